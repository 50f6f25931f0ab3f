"""The server as dig and kdig see it (skipped where those tools are not installed)."""
import shutil
import subprocess

import pytest

from skydns import testing

# dig and kdig as child processes
pytestmark = pytest.mark.integration

TOOLS = [t for t in ("dig", "kdig") if shutil.which(t)]


@pytest.mark.parametrize("tool", TOOLS or [pytest.param("dig", marks=pytest.mark.skip("no dig/kdig"))])
@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_whoami_with_real_clients(tmp_path, tool, transport):
    """dig/kdig get whoami's additional records over UDP and TCP, IPv4 and IPv6."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        for host, family in (("127.0.0.1", "A"), ("::1", "AAAA")):
            out = subprocess.run([tool, f"@{host}", "-p", str(srv.port), "example.org", "A", transport],
                                 capture_output=True, text=True, timeout=10).stdout
            assert "status: NOERROR" in out or "rcode: NOERROR" in out, out
            assert f"IN\t{family}\t{host}" in out.replace(" ", "\t").replace("\t\t", "\t"), out
            proto = "_tcp" if transport == "+tcp" else "_udp"
            assert f"{proto}.example.org." in out, out


@pytest.mark.skipif(not shutil.which("dig"), reason="no dig")
def test_dig_refused_and_truncation(tmp_path):
    from helpers import fakeplugins
    with testing.serve("example.org:0 {\n big 30\n}\n", tmp_path, fakeplugins.registry()) as srv:
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(srv.port), "example.net"],
                             capture_output=True, text=True, timeout=10).stdout
        assert "status: REFUSED" in out
        # dig retries a truncated UDP answer over TCP by itself and gets all 30 records.
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(srv.port), "example.org", "TXT", "+bufsize=1232"],
                             capture_output=True, text=True, timeout=10).stdout
        assert "Truncated, retrying in TCP mode" in out and out.count("60\tIN\tTXT") == 30, out


@pytest.mark.parametrize("tool", TOOLS or [pytest.param("dig", marks=pytest.mark.skip("no dig/kdig"))])
def test_forward_express_lane_with_real_clients(tmp_path, tool, ups):
    """dig/kdig (EDNS and a cookie in each query) through forward's express lane: the shared socket is
    opened by the first query, the next ones take the lane; each gets the upstream's answer with its own ID."""
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  expire 10s\n }}\n}}\n", tmp_path) as srv:
        server = next(iter(srv.service.listeners.values())).server
        assert server.handle_udp != server.handle  # the lane's door
        for i in range(3):
            out = subprocess.run([tool, "@127.0.0.1", "-p", str(srv.port), f"n{i}.example.org", "A", "+notcp"],
                                 capture_output=True, text=True, timeout=10).stdout
            assert "status: NOERROR" in out or "rcode: NOERROR" in out, out
            assert "192.0.2.1" in out, out
        assert len({port for _, port, _ in up.seen}) == 1  # one shared socket
