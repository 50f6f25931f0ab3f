"""DNS over TLS and over HTTPS: server CPU per query on kept connections, next to dnsdist's frontends.

Usage: python bench/encrypted.py [--seconds 5] [--rounds 3] [--clients 1 1000]

Both are proxies in front of the same upstream (bench/bare_twisted.py on dnsperf's core), and ask it
the same way:
  dnsdist DoT / DoH     Debian's dnsdist, addTLSLocal / addDOHLocal, no packet cache: DoT queries go
                        to the upstream over TCP, DoH queries over UDP from a socket kept for it
                        (dnsdist 1.7's way)
  skydns DoT / DoH      tls:// and https:// blocks: forward . UPSTREAM; the https one with prefer_udp
                        and expire 10s (UDP from a kept socket), or with --fresh-ports prefer_udp
                        alone (UDP from forward's short-lived random ports, its default)
dnsperf (-m dot) and h2load (DoH: POSTs of one query over HTTP/2, nghttp2's load generator,
Debian's nghttp2-client; dnsperf's own DoH client where h2load is missing) keep their connections
open; each row is run with each number of clients (connections) given (--clients, default 1 and
1000), 100 queries (streams) outstanding in all. Before the runs, one DoH query to each server must
come back NOERROR with the upstream's record (the figures are of real answers). The server's CPU time per answered
query is read from /proc while dnsperf runs (medians over interleaved rounds). Also printed: new
TLS connections a second, each a handshake and one query over DoT, made one after another from
this process, with the server's CPU per connection; with --memory, the server's RSS per DoT
connection with 1,000 held open.
"""
import argparse
import os
import shutil
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dns.message  # noqa: E402
import dnsperf  # noqa: E402


def make_cert(tmp: str) -> tuple[str, str]:
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def dnsdist_cmd(tmp: str, cert: str, key: str, dot: int, doh: int, upstream: int) -> list[str]:
    path = os.path.join(tmp, "dnsdist.conf")
    with open(path, "w") as f:
        # setLocal replaces every listening address: it comes first
        f.write(f'setLocal("127.0.0.1:{dnsperf.free_port()}")\n'
                f'addTLSLocal("127.0.0.1:{dot}", "{cert}", "{key}")\n'
                f'addDOHLocal("127.0.0.1:{doh}", "{cert}", "{key}", "/dns-query")\n'
                f'newServer({{address="127.0.0.1:{upstream}", checkName="example.org.", checkType="A"}})\n'
                'setSecurityPollSuffix("")\n')
    return ["dnsdist", "--supervised", "--disable-syslog", "-C", path]


def skydns_cmd(tmp: str, cert: str, key: str, dot: int, doh: int, upstream: int, fresh_ports: bool = False) -> list[str]:
    path = os.path.join(tmp, "Corefile")
    doh_upstream = " {\n  prefer_udp\n" + ("" if fresh_ports else "  expire 10s\n") + " }"
    with open(path, "w") as f:
        for scheme, port, opts in (("tls", dot, ""), ("https", doh, doh_upstream)):
            f.write(f"{scheme}://.:{port} {{\n bind 127.0.0.1\n tls {cert} {key}\n"
                    f" tcp {{\n  max_connections 2000\n }}\n forward . 127.0.0.1:{upstream}{opts}\n}}\n")
    return [sys.executable, "-m", "twisted", "skydns", "-c", path]


def wait_tls(port: int, proc: subprocess.Popen, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            handshake_query(port)
            return
        except (OSError, struct.error):  # not listening yet, or no backend up yet (dnsdist closes)
            time.sleep(0.2)
    sys.exit(f"nothing answered DoT on {port}")


def handshake_query(port: int) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    wire = dns.message.make_query("example.org.", "A").to_wire()
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        n = struct.unpack("!H", s.recv(2))[0]
        while n > 0:
            got = len(s.recv(n))
            if not got:
                raise OSError("closed before the whole answer")
            n -= got


def new_connections(port: int, pid: int, seconds: float) -> tuple[float, float]:
    """(connections a second, server CPU us per connection): handshake + one query, one after another."""
    cpu0 = dnsperf.cpu_seconds(pid)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        handshake_query(port)
        n += 1
    elapsed = time.monotonic() - start
    return n / elapsed, (dnsperf.cpu_seconds(pid) - cpu0) * 1e6 / n


def held_memory(port: int, pid: int, count: int = 1000) -> float:
    """KB of server RSS per DoT connection, with ``count`` held open (handshake done, no query)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    before = rss_kb(pid)
    held = []
    try:
        for _ in range(count):
            held.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)))
        time.sleep(1)  # the server reads the last handshakes
        return (rss_kb(pid) - before) / count
    finally:
        for s in held:
            s.close()


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def h2load(port: int, seconds: float, pid: int, clients: int, outstanding: int, tmp: str) -> dnsperf.Result:
    """DoH over HTTP/2 from h2load: requests a second, and the server's CPU per request (no latencies)."""
    body = os.path.join(tmp, "query.bin")
    with open(body, "wb") as f:
        f.write(dns.message.make_query("example.org.", "A").to_wire())
    streams = max(1, outstanding // clients)
    cmd = ["h2load", "-D", str(max(1, round(seconds))), "-c", str(clients), "-m", str(streams), "-d", body,
           "-H", "content-type: application/dns-message", "-H", "accept: application/dns-message",
           f"https://127.0.0.1:{port}/dns-query"]
    cpu0 = dnsperf.cpu_seconds(pid)
    run = subprocess.run(dnsperf.pinned(cmd, 1), capture_output=True, text=True, timeout=seconds + 60)
    out = run.stdout + run.stderr
    cpu = dnsperf.cpu_seconds(pid) - cpu0
    done = ok = 0
    rate = 0.0
    for line in out.splitlines():
        if line.startswith("finished in"):
            rate = float(line.split(",")[1].split()[0])
        elif line.startswith("requests:"):
            done = int(line.split()[1])
        elif line.startswith("status codes:"):
            ok = int(line.split()[2])
    if not done or ok < done * 0.99:
        sys.exit(f"h2load: {ok} of {done} requests answered 2xx:\n{out[-1500:]}")
    return dnsperf.Result(rate, 0.0, 0.0, done - ok, cpu * 1e6 / done)


def check_doh(port: int, cert: str) -> None:
    """One DoH query must get the upstream's reply (not a SERVFAIL in a 200)."""
    import dns.query
    import dns.rcode

    r = dns.query.https(dns.message.make_query("example.org.", "A"), f"https://127.0.0.1:{port}/dns-query",
                        verify=False, timeout=5)
    if r.rcode() != dns.rcode.NOERROR or not r.additional:  # the upstream's reply: its A in the additional
        sys.exit(f"DoH on {port} answered {dns.rcode.to_text(r.rcode())} with {len(r.additional)} additional")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, nargs="*", default=[1, 1000])
    ap.add_argument("--memory", action="store_true",
                    help="also hold 1,000 DoT connections open and print the server's RSS per connection")
    ap.add_argument("--fresh-ports", action="store_true",
                    help="skydns's DoH block forwards from short-lived random ports (forward's default), not expire")
    args = ap.parse_args()
    if not shutil.which("dnsdist"):
        sys.exit("dnsdist is not installed (Debian: apt-get install dnsdist)")
    tmp = tempfile.mkdtemp(prefix="skydns-encrypted-")
    cert, key = make_cert(tmp)
    up_port = dnsperf.free_port()
    upstream = dnsperf.start([sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(up_port), "--tcp"],
                             up_port,
                             core=1, env=dict(os.environ, PYTHONPATH=dnsperf.ROOT))
    rows: dict[str, list] = {}
    conns: dict[str, list] = {}
    memory: dict[str, list] = {}
    try:
        for _round in range(args.rounds):
            for name, make in (("dnsdist", dnsdist_cmd), ("skydns", skydns_cmd)):
                dot, doh = dnsperf.free_port(), dnsperf.free_port()
                cmd = make(tmp, cert, key, dot, doh, up_port) if name == "dnsdist" else \
                    skydns_cmd(tmp, cert, key, dot, doh, up_port, args.fresh_ports)
                proc = subprocess.Popen(dnsperf.pinned(cmd, 0),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
                try:
                    wait_tls(dot, proc)
                    check_doh(doh, cert)
                    for clients in args.clients:
                        for mode, port in (("dot", dot), ("doh", doh)):
                            if mode == "doh" and shutil.which("h2load"):
                                r = h2load(port, args.seconds, proc.pid, clients, max(100, clients), tmp)
                            else:
                                r = dnsperf.run(port, ["example.org A"], args.seconds, core=1, pid=proc.pid,
                                                clients=clients, outstanding=max(100, clients), mode=mode)
                            rows.setdefault((name, mode, clients), []).append(r)
                    conns.setdefault(name, []).append(new_connections(dot, proc.pid, min(args.seconds, 3)))
                    if args.memory:
                        memory.setdefault(name, []).append(held_memory(dot, proc.pid))
                finally:
                    dnsperf.stop(proc)
    finally:
        dnsperf.stop(upstream)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"dnsperf (DoT) and {'h2load' if shutil.which('h2load') else 'dnsperf'} (DoH) {args.seconds:g}s x "
          f"{args.rounds} rounds, kept connections; server on core 0, the client and the upstream on core 1; medians "
          "(h2load gives no latencies: 0.00)")
    print(f"{'server':<9}{'mode':<5}{'clients':>8}{'QPS':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/q':>10}")
    med = {}
    for (name, mode, clients), rs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        m = dnsperf.medians(rs)
        med[(name, mode, clients)] = m
        print(f"{name:<9}{mode:<5}{clients:>8}{m.qps:>10.0f}{m.p50_ms:>9.2f}{m.p99_ms:>9.2f}{m.cpu_us:>10.1f}")
    for mode in ("dot", "doh"):
        for clients in args.clients:
            a, b = med[("skydns", mode, clients)], med[("dnsdist", mode, clients)]
            print(f"CPU per query skydns / dnsdist, {mode}, {clients} connections: {a.cpu_us / b.cpu_us:.2f}")
    for name, cs in conns.items():
        rate = statistics.median(c[0] for c in cs)
        cpu = statistics.median(c[1] for c in cs)
        print(f"new DoT connections (handshake + one query, one at a time): {name:<8} {rate:7.0f}/s, "
              f"server CPU {cpu:7.0f} us each")
    for name, kbs in memory.items():
        print(f"1,000 DoT connections held open: {name:<8} {statistics.median(kbs):6.1f} KB of RSS each")


if __name__ == "__main__":
    main()
