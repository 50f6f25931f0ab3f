"""Small real DNS servers for forwarding tests, each in its own thread (independent of the reactor).

``Upstream(mode)`` listens on UDP and TCP of one loopback port:
  healthy   answers A with ``address`` (and TXT with the server's name)
  slow      answers like healthy after ``delay`` seconds (or never with delay=None), one query after another
  late      answers over UDP like healthy after ``delay`` seconds, every query at once (a timer each)
  garbage   answers with random bytes, then with a wrong ID, then with a wrong question
  truncate  answers over UDP with TC and no records, over TCP in full (30 TXT records)
  rcode     answers with ``rcode`` and no records (NXDOMAIN, SERVFAIL, or NOERROR: no data)
Every query received is recorded in ``seen`` as (proto, source port, message), and the address it
came from in ``sources``.
"""
import random
import select
import socket
import ssl
import struct
import threading
import time

import dns.flags
import dns.message
import dns.rrset


class Upstream:
    def __init__(self, mode="healthy", address="192.0.2.1", delay=None, host="127.0.0.1", port=0, tls=None,
                 rcode=0):
        self.mode, self.address, self.delay, self.rcode = mode, address, delay, rcode
        self.seen = []
        self.sources = set()  # (proto, host) of every query
        self.accepted = 0  # TCP/TLS connections accepted
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _attempt in range(50):  # UDP and TCP on one port number: retry when TCP's is taken
            self.udp = socket.socket(family, socket.SOCK_DGRAM)
            self.udp.bind((host, port))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(family, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
                if port:
                    raise
        self.tcp.listen(64)
        self.tls = tls  # an ssl.SSLContext: TCP connections are TLS
        self.closed = False
        self.rnd = random.Random(1)
        self.thread = threading.Thread(target=self._loop, daemon=True)  # ends within 0.1 s of close()
        self.thread.start()

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self.closed = True
        for s in (self.udp, self.tcp):
            try:
                s.close()
            except OSError:
                pass

    def answer(self, query: dns.message.Message, proto: str) -> bytes | None:
        r = dns.message.make_response(query)
        r.flags |= dns.flags.RA
        name = query.question[0].name
        if self.mode == "rcode":
            r.set_rcode(self.rcode)
            return r.to_wire()
        if self.mode == "truncate":
            if proto == "udp":
                r.flags |= dns.flags.TC
                return r.to_wire()
            rr = dns.rrset.from_text(name, 60, "IN", "TXT", *[f'"record {i:02d} ' + "x" * 60 + '"' for i in range(30)])
            r.answer.append(rr)
            return r.to_wire()
        qtype = query.question[0].rdtype
        if qtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(name, 60, "IN", "A", self.address))
        elif qtype == dns.rdatatype.TXT:
            r.answer.append(dns.rrset.from_text(name, 60, "IN", "TXT", f'"{self.address}"'))
        return r.to_wire(max_size=65535)

    def _replies(self, data: bytes, proto: str):
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return []
        self.seen.append((proto, None, q))
        if self.mode == "garbage":
            good = dns.message.from_wire(self.answer(q, proto))
            wrong_id = dns.message.from_wire(good.to_wire())
            wrong_id.id = (q.id + 1) % 65536
            wrong_q = dns.message.make_response(dns.message.make_query("other.example.", "A"))
            wrong_q.id = q.id
            return [bytes(self.rnd.randrange(256) for _ in range(40)), wrong_id.to_wire(), wrong_q.to_wire()]
        if self.mode == "slow":
            if self.delay is None:
                return []
            time.sleep(self.delay)
        return [self.answer(q, proto)]

    @staticmethod
    def _send(sock, replies, addr):
        for rep in replies:
            try:
                sock.sendto(rep, addr)
            except OSError:
                pass

    def _loop(self):
        conns = []
        while not self.closed:
            try:
                ready, _, _ = select.select([self.udp, self.tcp] + conns, [], [], 0.1)
            except (OSError, ValueError):
                if self.closed:
                    return
                conns = [c for c in conns if c.fileno() >= 0]
                continue
            for s in ready:
                try:
                    if s is self.udp:
                        data, addr = s.recvfrom(65535)
                        self.sources.add(("udp", addr[0]))
                        start = len(self.seen)
                        replies = self._replies(data, "udp")
                        if len(self.seen) > start:
                            p, _, q = self.seen[-1]
                            self.seen[-1] = (p, addr[1], q)
                        if self.mode == "late":
                            threading.Timer(self.delay, self._send, (s, replies, addr)).start()
                        else:
                            self._send(s, replies, addr)
                    elif s is self.tcp:
                        c, addr = s.accept()
                        self.sources.add(("tcp", addr[0]))
                        self.accepted += 1
                        if self.tls is not None:
                            c = self.tls.wrap_socket(c, server_side=True)
                        conns.append(c)
                    else:
                        while True:  # every frame already read: TLS keeps decrypted bytes select cannot see
                            head = s.recv(2)
                            if len(head) < 2:
                                conns.remove(s)
                                s.close()
                                break
                            (n,) = struct.unpack("!H", head)
                            data = b""
                            while len(data) < n:
                                chunk = s.recv(n - len(data))
                                if not chunk:
                                    break
                                data += chunk
                            for rep in self._replies(data, "tls" if self.tls else "tcp"):
                                s.sendall(struct.pack("!H", len(rep)) + rep)
                            if not (isinstance(s, ssl.SSLSocket) and s.pending()):
                                break
                except (OSError, ssl.SSLError):
                    if s in conns:
                        conns.remove(s)
                        s.close()


class CannotSend:
    """Stands in for a shared socket whose sends fail (no buffer space); reads and closes as the real one."""

    def __init__(self, sock):
        self.real = sock

    def send(self, data):
        import errno

        raise OSError(errno.ENOBUFS, "No buffer space available")

    def __getattr__(self, name):
        return getattr(self.real, name)


def burst(port: int, count: int, host: str = "127.0.0.1") -> list:
    """Send ``count`` A queries (IDs 1..count, names n0.example. ...) at once from one socket; their answers."""
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    try:
        for i in range(count):
            q = dns.message.make_query(f"n{i}.example.", "A")
            q.id = i + 1  # random IDs of a hundred queries would collide now and then
            client.sendto(q.to_wire(), (host, port))
        return [dns.message.from_wire(client.recv(4096)) for _ in range(count)]
    finally:
        client.close()


def closed_port() -> int:
    """A UDP/TCP port with nothing listening (queries to it are refused)."""
    from skydns.testing import free_port
    return free_port()
