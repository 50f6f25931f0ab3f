"""Health probes: TCP connect, HTTP(S) GET with an expected status, ICMP echo, a command's exit code.

Each probe is non-blocking (the reactor's sockets, processes and timers) and fires
its Deferred with True (healthy) or False (not), never an error, within its timeout.
:func:`run` runs a :class:`Probe`; :class:`RiseFall` turns results into up and down as
``rise`` successes or ``fall`` failures in a row. The scanner probes the addresses of
the records; the registration agent (``skydns agent``) checks the services it registers.
"""
from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import ClientFactory, ProcessProtocol, Protocol
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

#: What a check may ask for (seconds): at most once a second, a probe that gives up within 30 s.
MIN_INTERVAL, MAX_INTERVAL, MAX_TIMEOUT = 1.0, 3600.0, 30.0
#: The longest ``path`` of an HTTP check.
MAX_PATH = 1024


@dataclass(frozen=True)
class Timing:
    """How often a check runs and how many results in a row change its state."""

    interval: float = 10.0
    timeout: float = 2.0
    rise: int = 2
    fall: int = 3


@dataclass(frozen=True)
class Probe:
    """How one address is checked (from the service's ``health`` field, the agent's flags, or the default)."""

    type: str  # tcp, http, https, icmp or command
    port: int = 0
    path: str = "/"
    status: int = 200
    command: tuple[str, ...] = ()  # for "command": the program and its arguments (healthy: exit code 0)


class RiseFall:
    """Up or down from a run of results: ``rise`` successes in a row to come up, ``fall`` failures to go down."""

    __slots__ = ("up", "rise", "fall", "ok_run", "fail_run")

    def __init__(self, rise: int, fall: int, up: bool = False):
        self.rise, self.fall, self.up = rise, fall, up
        self.ok_run = self.fail_run = 0

    def record(self, ok: bool) -> bool:
        """Count one result; True when it changed ``up``."""
        if ok:
            self.ok_run, self.fail_run = self.ok_run + 1, 0
            if not self.up and self.ok_run >= self.rise:
                self.up = True
                return True
        else:
            self.fail_run, self.ok_run = self.fail_run + 1, 0
            if self.up and self.fail_run >= self.fall:
                self.up = False
                return True
        return False

    def reset(self, up: bool) -> None:
        self.up, self.ok_run, self.fail_run = up, 0, 0


def run(reactor, ip: str, probe: Probe, timeout: float, source: str | None = None,
        agents: dict | None = None) -> defer.Deferred:
    """Run ``probe`` against ``ip``: a Deferred firing True or False within ``timeout``."""
    if probe.type == "tcp":
        return tcp(reactor, ip, probe.port, timeout, source)
    if probe.type == "icmp":
        return icmp(reactor, ip, timeout, source)
    if probe.type == "command":
        return command(reactor, probe.command, timeout)
    return http(reactor, ip, probe, timeout, source, agents)


class _Connected(Protocol):
    transport: Any

    def __init__(self, done: defer.Deferred):
        self.done = done

    def connectionMade(self):
        if not self.done.called:
            self.done.callback(True)
        self.transport.loseConnection()


class _ConnectFactory(ClientFactory):
    noisy = False  # no "Starting factory" line per probe

    def __init__(self, done: defer.Deferred):
        self.done = done

    def buildProtocol(self, addr):
        return _Connected(self.done)

    def clientConnectionFailed(self, connector, reason):
        if not self.done.called:
            self.done.callback(False)


def tcp(reactor, ip: str, port: int, timeout: float, source: str | None = None) -> defer.Deferred:
    done: defer.Deferred[bool] = defer.Deferred()
    connector = reactor.connectTCP(ip, port, _ConnectFactory(done), timeout=timeout,
                                   bindAddress=(source, 0) if source else None)

    def give_up():
        if not done.called:
            connector.stopConnecting()
            done.callback(False)

    timer = reactor.callLater(timeout, give_up)
    return done.addBoth(_cancel_then, timer)


@implementer(IPolicyForHTTPS)
class _AnyCertificate:
    """A liveness probe over HTTPS checks that the service answers, not who it is: no verification."""

    def creatorForNetloc(self, hostname, port):
        from twisted.internet import ssl

        return ssl.CertificateOptions(verify=False)


class _QuietHTTPFactory(_HTTP11ClientFactory):
    noisy = False


class _Discard(Protocol):
    def connectionLost(self, reason=None):
        pass


def http(reactor, ip: str, probe: Probe, timeout: float, source: str | None = None,
         agents: dict | None = None) -> defer.Deferred:
    scheme = probe.type
    key = (scheme, source)
    agent = agents.get(key) if agents is not None else None
    if agent is None:
        pool = HTTPConnectionPool(reactor, persistent=False)
        pool._factory = _QuietHTTPFactory  # no "Starting factory" line per probe
        agent = Agent(reactor, contextFactory=_AnyCertificate(), connectTimeout=timeout,
                      bindAddress=(source, 0) if source else None, pool=pool)
        if agents is not None:
            agents[key] = agent
    host = f"[{ip}]" if ":" in ip else ip
    port = probe.port or (443 if scheme == "https" else 80)
    url = f"{scheme}://{host}:{port}{probe.path}".encode()
    d = agent.request(b"GET", url)

    def got(response):
        response.deliverBody(_Discard())
        return response.code == probe.status

    d.addCallback(got)
    d.addErrback(lambda _f: False)
    d.addTimeout(timeout, reactor, onTimeoutCancel=lambda _r, _t: False)
    return d


class _Exit(ProcessProtocol):
    def __init__(self, done: defer.Deferred):
        self.done = done

    def processEnded(self, reason):
        if not self.done.called:
            self.done.callback(reason.value.exitCode == 0)


def command(reactor, argv: tuple[str, ...], timeout: float) -> defer.Deferred:
    """Run ``argv`` (no shell): healthy when it exits 0 within ``timeout``; killed when it does not."""
    done: defer.Deferred[bool] = defer.Deferred()
    try:
        process = reactor.spawnProcess(_Exit(done), argv[0], list(argv), env=None, childFDs={0: "w", 1: "r", 2: "r"})
    except OSError:
        done.callback(False)
        return done

    def give_up():
        if not done.called:
            try:
                process.signalProcess("KILL")
            except Exception:
                pass
            done.callback(False)

    timer = reactor.callLater(timeout, give_up)
    return done.addBoth(_cancel_then, timer)


def icmp_allowed() -> bool:
    """Can this process open an unprivileged ping socket (net.ipv4.ping_group_range)?"""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
        return True
    except OSError:
        return False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class _Echo:
    """One echo request on a ping socket of its own, read by the reactor."""

    def __init__(self, reactor, ip: str, timeout: float, source: str | None, done: defer.Deferred):
        self.reactor, self.done = reactor, done
        v6 = ":" in ip
        family = socket.AF_INET6 if v6 else socket.AF_INET
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        self.sock: socket.socket | None = socket.socket(family, socket.SOCK_DGRAM, proto)
        self.sock.setblocking(False)
        if source:
            self.sock.bind((source, 0))
        kind = 128 if v6 else 8  # echo request
        payload = os.urandom(8)
        self.reply_type = 129 if v6 else 0
        header = struct.pack("!BBHHH", kind, 0, 0, 0, 1)  # the kernel sets the identifier (and v6 checksum)
        packet = struct.pack("!BBHHH", kind, 0, _checksum(header + payload), 0, 1) + payload
        self.sock.sendto(packet, (ip, 0))
        reactor.addReader(self)
        self.timer = reactor.callLater(timeout, self.finish, False)

    def fileno(self):
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self):
        return "probe"

    def doRead(self):
        try:
            data = self.sock.recv(2048) if self.sock is not None else b""
        except OSError:
            return
        if data and data[0] == self.reply_type:
            self.finish(True)

    def connectionLost(self, reason=None):
        self.finish(False)

    def finish(self, ok: bool):
        if self.sock is not None:
            self.reactor.removeReader(self)
            self.sock.close()
            self.sock = None
        if self.timer.active():
            self.timer.cancel()
        if not self.done.called:
            self.done.callback(ok)


def icmp(reactor, ip: str, timeout: float, source: str | None = None) -> defer.Deferred:
    done: defer.Deferred[bool] = defer.Deferred()
    try:
        _Echo(reactor, ip, timeout, source, done)
    except OSError:
        done.callback(False)
    return done


def _cancel_then(result, timer):
    if timer.active():
        timer.cancel()
    return result
