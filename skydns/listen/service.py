"""The running server: listeners, the current configuration, and reloads.

A reload builds and starts a whole new :class:`skydns.config.loader.Generation`
next to the running one, opens only the listeners that are new, then swaps
the zone routing of every listener in one step (the reactor is single
threaded: no query sees half of each). Listeners whose address did not
change stay open, so no query is dropped. The old generation is retired
once its queries in flight are done. A Corefile that does not load, or
plugins that fail to start, leave the running configuration untouched.
"""
from __future__ import annotations

import signal
import socket
from typing import Any

from twisted.application.service import MultiService
from twisted.internet import defer, task
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from zope.interface import implementer

from skydns import config as configmod
from skydns.config.errors import CorefileError
from skydns.config.registry import Registry
from skydns.interfaces import IServer
from skydns.listen import systemd
from skydns.listen.transport import DNSDatagramProtocol, DNSStreamFactory, Listener
from skydns.query.server import Server, ZoneMux

log = Logger(namespace="skydns.listen.service")

#: Longest a retired configuration waits for its queries in flight before it is stopped.
RETIRE_GRACE = 10.0
#: Longest a stopping server waits for its queries in flight (after it stopped taking new ones).
STOP_GRACE = 5.0


class Shared:
    """Objects shared across configurations (an etcd copy survives a reload), counted by use."""

    def __init__(self):
        self.objects: dict = {}
        self.counts: dict = {}

    def acquire(self, key, factory):
        if key not in self.objects:
            self.objects[key] = factory()
            self.counts[key] = 0
        self.counts[key] += 1
        return self.objects[key]

    def release(self, key, release) -> None:
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            obj = self.objects.pop(key)
            del self.counts[key]
            release(obj)


@implementer(IServer)
class SkyDNSService(MultiService):
    """Serves a Corefile; ``reload()`` (or SIGHUP) replaces it in place."""

    def __init__(self, corefile: str, registry: Registry | None = None, reactor=None,
                 default_port: int = 53, config: configmod.Config | None = None,
                 install_signal: bool = True, reuse_port: bool = False, stop_reactor_on_failure: bool = True,
                 inherited: list | None = None, clock=None):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        #: what plugins take time from (block.clock): the reactor, or a test's task.Clock
        self.clock = clock
        self.corefile = corefile
        self.registry = registry or Registry()
        self.default_port = default_port
        self.install_signal = install_signal
        #: a server that owns its process stops the reactor when its plugins fail to start;
        #: one embedded in another program (tests) hands the failure to whoever started it
        self.stop_reactor_on_failure = stop_reactor_on_failure
        #: open listeners with SO_REUSEPORT, so several worker processes share each port
        self.reuse_port = reuse_port
        self._config = config
        #: listening sockets systemd passed (socket activation), adopted by the listeners they match
        self.inherited = systemd.Inherited(systemd.from_environment() if inherited is None else inherited)
        self.generation: configmod.Generation | None = None
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.reloads = 0
        self.reload_failures = 0
        self._reloading: defer.Deferred | None = None
        self._again = False
        self._old_sighup: Any = None
        self.shared = Shared()
        #: called first when the service stops, and waited for (health's lame duck)
        self.before_stop: list = []

    # -- start and stop -----------------------------------------------------
    def privilegedStartService(self):
        """Load the Corefile and bind every listener (before twistd drops privileges)."""
        cfg = self._config or configmod.load(self.corefile, self.registry, self.default_port)
        self._config = None
        gen = cfg.build(self.reactor, self, self.clock)
        specs = gen.listener_specs()
        for key, spec in specs.items():
            self.listeners[key] = self._listen(spec, _server(spec, gen))
        for s in self.inherited.unused():
            log.warn("systemd passed {socket}, which no server block listens on; not used", socket=s.describe())
        self.generation = gen
        super().privilegedStartService()

    def startService(self):
        if self.generation is None:
            self.privilegedStartService()
        gen = self.generation
        assert gen is not None  # privilegedStartService made it
        super().startService()
        for line in gen.describe():
            log.info("chain {line}", line=line)
        d = gen.start()
        d.addErrback(self._start_failed)
        if self.install_signal:
            self._old_sighup = signal.signal(signal.SIGHUP, self._sighup)
        for listener in self.listeners.values():
            _log_listening(listener)
        wanted = max(b.settings.workers for b in gen.blocks)
        if wanted > 1 and not self.reuse_port:
            log.warn("'workers {n}' is done by the skydns command (skydns -c Corefile); "
                     "twistd runs one process", n=wanted)
        return d

    def _start_failed(self, failure):
        if not self.stop_reactor_on_failure:
            return failure
        log.failure("plugins failed to start; stopping", failure)
        if self.reactor.running:
            self.reactor.stop()

    @defer.inlineCallbacks
    def stopService(self):
        for fn in list(self.before_stop):
            try:
                yield defer.maybeDeferred(fn)
            except Exception:
                log.failure("before-stop hook failed")
        if self.install_signal and self._old_sighup is not None:
            signal.signal(signal.SIGHUP, self._old_sighup)
            self._old_sighup = None
        yield super().stopService()
        # Take no new queries (UDP sockets stay open to send the last replies; TCP connections
        # already open stay too), answer those in flight, then close everything.
        for listener in self.listeners.values():
            for udp in listener.udp_ports:
                udp.stopReading()
            for port in listener.stream_ports:
                yield defer.maybeDeferred(port.stopListening)
            listener.stream_ports = []
        if self.generation is not None:
            yield self._drain(self.generation, STOP_GRACE)
        for listener in list(self.listeners.values()):
            yield self._close(listener)
        self.listeners.clear()
        if self.generation is not None:
            yield self.generation.stop()

    def _sighup(self, signum, frame):
        # Signal handlers run between bytecodes; only schedule the work.
        self.reactor.callFromThread(self.reload)

    # -- listeners ----------------------------------------------------------
    def _listen(self, spec: configmod.ListenerSpec, server: Server) -> Listener:
        tls = None
        if spec.transport != "dns" and spec.tls is not None:
            from skydns.listen.tlsconfig import SwappableServerTLS

            tls = SwappableServerTLS(spec.tls, ALPN if spec.transport == "https" else (b"dot",))
        listener = Listener(spec.host, spec.port, server, spec.limits, spec.transport, tls)
        factory = self._stream_factory(listener)
        host = spec.host
        if self.inherited:
            dgram, stream = self.inherited.take(host, spec.port, spec.transport)
            if stream or dgram:  # what systemd passed is used; the rest of the listener is bound here
                for s in dgram:
                    listener.udp_ports.append(self.reactor.adoptDatagramPort(
                        s.fd, s.family, DNSDatagramProtocol(listener), maxPacketSize=65535))
                for s in stream:
                    listener.stream_ports.append(self.reactor.adoptStreamPort(s.fd, s.family, factory))
                server.local = (host, spec.port)
                try:
                    if spec.transport == "dns" and not dgram:
                        log.warn("systemd passed no UDP socket for port {port}: binding it here", port=spec.port)
                        listener.udp_ports.append(self.reactor.listenUDP(
                            spec.port, DNSDatagramProtocol(listener), interface=host, maxPacketSize=65535))
                    if not stream:
                        log.warn("systemd passed no TCP socket for port {port}: binding it here", port=spec.port)
                        listener.stream_ports.append(self.reactor.listenTCP(spec.port, factory, interface=host,
                                                                            backlog=1024))
                except CannotListenError as e:
                    raise CorefileError(f"cannot listen on {_where(host, spec.port)}: {e.socketError}",
                                        self.corefile) from e
                return listener
        attempts = 20 if spec.port == 0 else 1
        for attempt in range(attempts):
            # A fresh protocol each try: a port closed after a failed try still holds the old one.
            udp = DNSDatagramProtocol(listener) if spec.transport == "dns" else None
            udp_port = None
            try:
                port = spec.port
                if udp is not None:
                    if self.reuse_port:
                        udp_port = self._adopt(host, port, udp, None)
                    else:
                        udp_port = self.reactor.listenUDP(port, udp, interface=host, maxPacketSize=65535)
                    port = udp_port.getHost().port
                if self.reuse_port:
                    stream_port = self._adopt(host, port, None, factory)
                else:
                    stream_port = self.reactor.listenTCP(port, factory, interface=host, backlog=1024)
                listener.stream_ports = [stream_port]
                listener.udp_ports = [udp_port] if udp_port is not None else []
                listener.port = stream_port.getHost().port
                server.local = (host, listener.port)
                return listener
            except CannotListenError as e:
                if udp_port is not None:
                    udp_port.stopListening()
                if attempt == attempts - 1:
                    raise CorefileError(f"cannot listen on {_where(host, spec.port)}: {e.socketError}",
                                        self.corefile) from e
        raise AssertionError("unreachable")

    def _stream_factory(self, listener: Listener):
        """The factory of a listener's stream connections: DNS over TCP, over TLS, or HTTP(S) for DoH."""
        inner: Any
        if listener.transport == "https":
            from skydns.listen.doh import site_factory

            inner = site_factory(listener, self.reactor)
        else:
            inner = DNSStreamFactory(listener, self.reactor)
        listener.factory = inner
        if listener.tls is None:
            return inner
        from skydns.listen.flusher import Flusher
        from skydns.listen.tlsserver import TLSServerFactory

        # DoH's HTTP/2 joins its own writes; DNS over TLS joins each reactor pass's answers in one record
        return TLSServerFactory(listener.tls, inner, None if listener.transport == "https" else Flusher(self.reactor))

    def _adopt(self, host: str, port: int, protocol, factory):
        """A UDP (protocol) or TCP (factory) port bound with SO_REUSEPORT, handed to the reactor."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM if protocol is not None else socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, port))
            if factory is not None:
                sock.listen(1024)
            sock.setblocking(False)
            if protocol is not None:
                return self.reactor.adoptDatagramPort(sock.fileno(), family, protocol, maxPacketSize=65535)
            return self.reactor.adoptStreamPort(sock.fileno(), family, factory)
        except OSError as e:
            raise CannotListenError(host, port, e) from e
        finally:
            sock.close()  # the reactor holds its own duplicate

    @defer.inlineCallbacks
    def _close(self, listener: Listener):
        for port in listener.ports:
            yield defer.maybeDeferred(port.stopListening)

    def route(self, qname: str, qtype: int, port: int):
        """``(zone, block)`` serving ``qname`` on ``port`` now, as a client's query would be routed."""
        for (_host, configured), listener in self.listeners.items():
            if configured == port:
                found = listener.server.mux.route(qname, qtype)
                if found is not None:
                    return found
        return None

    def find(self, interface) -> list:
        """``(block, provider)`` for every provider of ``interface`` in the running configuration."""
        return self.generation.find(interface) if self.generation is not None else []

    def blocks(self) -> list:
        """The server blocks of the running configuration."""
        return list(self.generation.blocks) if self.generation is not None else []

    # -- reload -------------------------------------------------------------
    def reload(self) -> defer.Deferred:
        """Load the Corefile again and swap it in; a failure keeps the old configuration.

        Reloads asked for while one runs are folded into one more run after it.
        """
        if self._reloading is not None:
            self._again = True
            return self._reloading
        self._reloading = d = self._reload()

        def finished(result):
            self._reloading = None
            if self._again:
                self._again = False
                return self.reload()
            return result

        d.addBoth(finished)
        return d

    @defer.inlineCallbacks
    def _reload(self):
        opened: dict[tuple[str, int], Listener] = {}
        gen = None
        try:
            cfg = configmod.load(self.corefile, self.registry, self.default_port)
            gen = cfg.build(self.reactor, self, self.clock)
            specs = gen.listener_specs()
            for key, spec in specs.items():
                running = self.listeners.get(key)
                if running is not None and running.transport != spec.transport:
                    raise CorefileError(f"port {spec.port} would change from {running.transport}:// to "
                                        f"{spec.transport}://: that needs a restart", self.corefile)
                if running is not None and (running.tls is None) != (spec.tls is None):
                    raise CorefileError(f"port {spec.port} ({spec.transport}://) would start or stop using TLS: "
                                        "that needs a restart", self.corefile)
            for key, spec in specs.items():
                if key not in self.listeners:
                    opened[key] = self._listen(spec, _server(spec, gen))
            yield gen.start()
        except Exception as e:
            self.reload_failures += 1
            for listener in opened.values():
                yield self._close(listener)
            if gen is not None:
                yield gen.stop()  # also releases what it built but never started
            if isinstance(e, CorefileError):
                log.error("reload failed, still serving the previous configuration: {error}", error=str(e))
            else:
                log.failure("reload failed, still serving the previous configuration")
            return False
        # The swap: plain assignments, no yield in between.
        old_gen = self.generation
        old_listeners = self.listeners
        new_listeners = {}
        for key, spec in specs.items():
            listener = opened.get(key) or old_listeners[key]
            listener.server = _server(spec, gen, (listener.host, listener.port))
            listener.limits = spec.limits
            if listener.tls is not None and spec.tls is not None:
                listener.tls.swap(spec.tls)  # new connections get the new certificate; the port stays open
            new_listeners[key] = listener
        self.listeners = new_listeners
        self.generation = gen
        self.reloads += 1
        log.info("reloaded {path}", path=self.corefile)
        for line in gen.describe():
            log.info("chain {line}", line=line)
        for key, listener in old_listeners.items():
            if key not in new_listeners:
                log.info("no longer listening on {host} port {port}", host=listener.host, port=listener.port)
                yield self._close(listener)
        for key in opened:
            _log_listening(opened[key])
        self.reactor.callLater(0, self._retire, old_gen)
        return True

    @defer.inlineCallbacks
    def _retire(self, gen):
        """Stop a replaced configuration once its queries in flight are answered."""
        yield self._drain(gen, RETIRE_GRACE)
        yield gen.stop()

    @defer.inlineCallbacks
    def _drain(self, gen, grace: float):
        """Wait until ``gen`` has no query in flight, or ``grace`` seconds."""
        waited = 0.0
        while gen.inflight > 0 and waited < grace:
            yield task.deferLater(self.reactor, 0.05, lambda: None)
            waited += 0.05


#: ALPN of DNS-over-HTTPS listeners: HTTP/2 where Twisted has it (twisted[http2]), HTTP/1.1 always.
ALPN = (b"h2", b"http/1.1")


def _server(spec: configmod.ListenerSpec, gen, local: tuple | None = None) -> Server:
    """The server of one listener in configuration ``gen``."""
    return Server(ZoneMux(spec.zones), gen, local, spec.transport, spec.guard)


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _log_listening(listener: Listener) -> None:
    what = {"dns": "udp, tcp", "tls": "DNS over TLS", "https": "DNS over HTTPS" if listener.tls else
            "DNS over HTTP, no TLS: behind a TLS proxy"}[listener.transport]
    log.info("listening on {host} port {port} ({what})", host=listener.host, port=listener.port, what=what)
