"""Sockets handed over by systemd (socket activation, ``sd_listen_fds``): SkyDNS's ``-systemd``.

systemd passes listening sockets as descriptors 3, 4, ... with ``LISTEN_PID`` (our pid),
``LISTEN_FDS`` (how many) and optionally ``LISTEN_FDNAMES`` (colon-separated names from
``FileDescriptorName=``). Each is matched to the Corefile's listeners by what it is: its
type (datagram for UDP, stream for TCP, TLS and HTTPS), its port, and its address (a
listener on every address takes any address of its port). A socket named ``dns``,
``tls`` or ``https`` only serves listeners of that transport. The descriptors stay open
for the life of the process, so a reload can adopt them again.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from twisted.logger import Logger

log = Logger(namespace="skydns.listen.systemd")

#: The first descriptor systemd passes (SD_LISTEN_FDS_START).
FIRST_FD = 3
WILDCARDS = ("", "::", "0.0.0.0")
TRANSPORT_NAMES = ("dns", "tls", "https")


@dataclass
class InheritedSocket:
    fd: int
    family: int
    type: int  # socket.SOCK_DGRAM or SOCK_STREAM
    host: str
    port: int
    name: str = ""

    def describe(self) -> str:
        kind = "udp" if self.type == socket.SOCK_DGRAM else "tcp"
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"fd {self.fd} ({kind} {where}{', ' + self.name if self.name else ''})"


def from_environment(environ=None, pid: int | None = None) -> list[InheritedSocket]:
    """The sockets systemd passed to this process; the variables are removed so children do not see them."""
    environ = os.environ if environ is None else environ
    pid = os.getpid() if pid is None else pid
    if environ.get("LISTEN_PID", "") != str(pid):
        return []
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        log.warn("LISTEN_FDS={value} is not a number; no sockets taken from systemd", value=environ["LISTEN_FDS"])
        return []
    names = environ.get("LISTEN_FDNAMES", "").split(":") if environ.get("LISTEN_FDNAMES") else []
    for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(var, None)
    found = []
    for i in range(count):
        fd = FIRST_FD + i
        name = names[i] if i < len(names) else ""
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            log.warn("systemd passed descriptor {fd} but it is not a socket ({error}); ignored", fd=fd, error=e)
            continue
        try:
            addr = sock.getsockname()
            family, kind = sock.family, sock.type
        finally:
            sock.detach()  # the descriptor stays ours, open
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(addr, tuple):
            log.warn("systemd passed descriptor {fd}, not an IP socket; ignored", fd=fd)
            continue
        os.set_blocking(fd, False)
        found.append(InheritedSocket(fd, family, kind, addr[0], addr[1], name))
    return found


class Inherited:
    """The sockets from systemd, handed out to listeners as they are opened."""

    def __init__(self, sockets: list[InheritedSocket]):
        self.sockets = sockets
        self.used: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.sockets)

    def matching(self, host: str, port: int, transport: str, kind: int) -> list[InheritedSocket]:
        """The sockets of type ``kind`` for a listener on ``host:port`` of ``transport``."""
        out = []
        for s in self.sockets:
            if s.type != kind or s.port != port:
                continue
            if s.name in TRANSPORT_NAMES and s.name != transport:
                continue
            if host in WILDCARDS or _same_host(host, s.host):
                out.append(s)
        return out

    def take(self, host: str, port: int, transport: str) -> tuple[list[InheritedSocket], list[InheritedSocket]]:
        """(datagram sockets, stream sockets) for the listener; marks them used."""
        dgram = self.matching(host, port, transport, socket.SOCK_DGRAM) if transport == "dns" else []
        stream = self.matching(host, port, transport, socket.SOCK_STREAM)
        for s in dgram + stream:
            self.used.add(s.fd)
        return dgram, stream

    def unused(self) -> list[InheritedSocket]:
        return [s for s in self.sockets if s.fd not in self.used]


def _same_host(configured: str, bound: str) -> bool:
    if bound.startswith("::ffff:"):
        bound = bound[7:]
    return configured == bound or (configured == "localhost" and bound in ("127.0.0.1", "::1"))
