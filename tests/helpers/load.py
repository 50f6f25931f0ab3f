"""A steady stream of UDP queries at a server, counting what comes back."""
from __future__ import annotations

import collections
import select
import socket
import struct
import threading
import time

import dns.message

from skydns.testing import eventually


def blast_udp(port: int, names: list[str], rate: float, seconds: float, host: str = "127.0.0.1",
              until=None) -> collections.Counter:
    """Send ``rate`` A queries a second for ``seconds`` (or until ``until()`` is true), cycling over
    ``names``; once every query is answered (or half a second later), count the replies by rcode
    (``"lost"`` for queries never answered)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    packets = [dns.message.make_query(n, "A").to_wire()[2:] for n in names]
    counts: collections.Counter = collections.Counter()
    answered: set[int] = set()
    done = threading.Event()

    def receive():
        while True:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                data = sock.recv(65535)
                qid = struct.unpack_from("!H", data)[0]
                if qid not in answered:
                    answered.add(qid)
                    counts[data[3] & 0x0F] += 1
            elif done.is_set():
                return

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    sent = 0
    start = checked = time.monotonic()
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        if until is not None and now - checked >= 0.05:  # asked a few times a second, not per packet
            checked = now
            if until():
                break
        while sent < (now - start) * rate:
            sock.sendto(struct.pack("!H", sent & 0xFFFF) + packets[sent % len(packets)], (host, port))
            sent += 1
        time.sleep(max(sent / rate - (time.monotonic() - start), 0.0))  # until the next query is due
    total = sent
    eventually(lambda: len(answered) >= min(total, 65536), timeout=0.5)  # the last replies
    done.set()
    reader.join(5)
    sock.close()
    counts["lost"] = sent - sum(counts.values())
    counts["sent"] = sent
    return counts
