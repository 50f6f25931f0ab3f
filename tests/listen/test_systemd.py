"""Socket activation: skydns serves the sockets systemd passes (LISTEN_FDS), as SkyDNS's -systemd did."""
import os
import shutil
import socket
import ssl
import subprocess

import dns.exception
import dns.message
import dns.query
import pytest

from helpers import eventually, socket_activation
from helpers.certs import make_pki
from helpers.processes import BIN, ROOT, env, wait_until_serving
from skydns import testing
from skydns.listen import systemd

pytestmark = pytest.mark.integration


def bound(kind, port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    return s


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_from_environment_reads_what_systemd_passes():
    """Only for our own pid; type, address, port and name of each; the variables are taken out."""
    port = testing.free_port()
    udp, tcp = bound(socket.SOCK_DGRAM, port), bound(socket.SOCK_STREAM, port)
    try:
        base = next(n for n in range(200, 1000) if not _open(n) and not _open(n + 1))
        fds = [base, base + 1]  # consecutive, as systemd passes them (from 3 there)
        os.dup2(udp.fileno(), fds[0])
        os.dup2(tcp.fileno(), fds[1])
        environ = {"LISTEN_PID": "1", "LISTEN_FDS": "2"}
        assert systemd.from_environment(environ, pid=2) == [] and "LISTEN_FDS" in environ
        old, systemd.FIRST_FD = systemd.FIRST_FD, fds[0]
        try:
            environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "dns:dns"}
            found = systemd.from_environment(environ)
        finally:
            systemd.FIRST_FD = old
        assert [(s.type, s.host, s.port, s.name) for s in found] == [
            (socket.SOCK_DGRAM, "127.0.0.1", port, "dns"), (socket.SOCK_STREAM, "127.0.0.1", port, "dns")]
        assert environ == {}
        inherited = systemd.Inherited(found)
        assert inherited.take("::", port, "tls") == ([], [])  # named dns: not for a tls listener
        assert inherited.take("::", port, "dns") == (found[:1], found[1:])
        for fd in fds:
            os.close(fd)
    finally:
        udp.close()
        tcp.close()


def test_skydns_serves_sockets_passed_as_systemd_does(tmp_path):
    """skydns --systemd adopts UDP and TCP sockets for the dns:// block and a TCP socket for the tls:// block;
    it binds nothing itself (the ports are held by the sockets it was given)."""
    pki = make_pki(tmp_path)
    port, dot = testing.free_port(), testing.free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n whoami\n}}\ntls://.:{dot} {{\n tls {pki['server']} {pki['server_key']}\n"
                        " whoami\n}\n")
    sockets = [bound(socket.SOCK_DGRAM, port), bound(socket.SOCK_STREAM, port), bound(socket.SOCK_STREAM, dot)]
    log = tmp_path / "skydns.log"
    with open(log, "w") as out:
        proc = socket_activation.popen([os.path.join(BIN, "skydns"), "-c", str(corefile), "--systemd"],
                                       sockets, ["dns", "dns", "tls"], env(), cwd=ROOT, stdout=out,
                                       stderr=subprocess.STDOUT)
    for s in sockets:
        s.close()  # only the server holds them now
    try:
        r = wait_until_serving(port, proc)
        assert r.rcode() == 0
        q = dns.message.make_query("example.org", "A")
        assert dns.query.tcp(q, "127.0.0.1", port=port, timeout=3).rcode() == 0
        ctx = ssl.create_default_context(cafile=pki["ca"])
        r = dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=ctx, server_hostname="localhost", timeout=5)
        assert [rr.name.to_text().split(".")[0] for rr in r.additional if rr.rdtype == 33] == ["_tls"]
        text = log.read_text()
        assert "not used" not in text and "binding it here" not in text, text
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_systemd_flag_without_sockets_is_an_error(tmp_path):
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:0 {\n whoami\n}\n")
    out = subprocess.run([os.path.join(BIN, "skydns"), "-c", str(corefile), "--systemd"], capture_output=True,
                         text=True, timeout=30, env={k: v for k, v in env().items() if not k.startswith("LISTEN_")})
    assert out.returncode != 0 and "systemd passed no sockets" in out.stdout + out.stderr


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="no systemd-socket-activate")
def test_with_systemd_socket_activate(tmp_path):
    """systemd's own tool passes a TCP socket; skydns serves DNS over TCP on it (and binds UDP itself).
    The tool starts skydns at the first connection, as systemd does."""
    port = testing.free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n")
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=dns",
                             os.path.join(BIN, "skydns"), "-c", str(corefile), "--systemd"],
                            env=env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        q = dns.message.make_query("example.org", "A")

        def tcp_answer():
            try:
                return dns.query.tcp(q, "127.0.0.1", port=port, timeout=20)
            except ConnectionRefusedError:
                return None  # the tool has not bound its socket yet

        r = eventually(tcp_answer, timeout=10)
        assert r is not None and r.rcode() == 0
        assert wait_until_serving(port, proc).rcode() == 0  # and UDP, bound by skydns
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="no systemd-socket-activate")
def test_systemd_passing_only_a_datagram_socket(tmp_path):
    """systemd passes the UDP socket alone: skydns serves UDP on it and binds TCP itself, without colliding
    with the port it was given."""
    port = testing.free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n")
    log = tmp_path / "skydns.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["systemd-socket-activate", "--datagram", "-l", f"127.0.0.1:{port}",
                                 "--fdname=dns", os.path.join(BIN, "skydns"), "-c", str(corefile), "--systemd"],
                                env=env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        q = dns.message.make_query("example.org", "A")

        def udp_answer():
            if proc.poll() is not None:
                raise AssertionError(f"exited: {log.read_text()[-2000:]}")
            try:
                return dns.query.udp(q, "127.0.0.1", port=port, timeout=1)
            except (dns.exception.Timeout, ConnectionRefusedError):
                return None

        r = eventually(udp_answer, timeout=20)
        assert r is not None and r.rcode() == 0
        assert eventually(lambda: dns.query.tcp(q, "127.0.0.1", port=port, timeout=5).rcode() == 0)
        assert "systemd passed no TCP socket" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_example_units_verify(tmp_path):
    """docs/systemd/skydns.socket, skydns.service and skydns-agent.service pass systemd-analyze verify (ExecStart
    pointed at this install's skydns)."""
    names = ("skydns.socket", "skydns.service", "skydns-agent.service")
    for name in names:
        text = open(os.path.join(ROOT, "docs", "systemd", name)).read()
        (tmp_path / name).write_text(text.replace("/usr/local/bin/skydns", os.path.join(BIN, "skydns")))
    out = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / name) for name in names)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
