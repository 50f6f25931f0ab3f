"""A real server for a test: a reactor on a background thread, real loopback sockets, dnspython as the client.

::

    with serve(".:0 { whoami }", tmp_path) as srv:
        reply = srv.query("example.org.", "A")

``serve(..., clock=task.Clock())`` gives every plugin that clock for time and timers
(``block.clock``): the test moves time with ``srv.advance(seconds)`` instead of sleeping.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, cast

import dns.message
import dns.query
import dns.rdatatype
from twisted.internet import defer, threads
from twisted.logger import Logger

_reactor_thread: threading.Thread | None = None
log = Logger(namespace="skydns.testing")


def reactor():
    """The global reactor, running in a daemon thread (started on first use), with the dispatch
    ``twistd skydns`` gives it."""
    global _reactor_thread
    from twisted.internet import reactor as r

    from skydns.listen.dispatch import lean_dispatch

    if _reactor_thread is None:
        lean_dispatch(r)
        run: Any = cast(Any, r).run
        _reactor_thread = threading.Thread(target=run, kwargs={"installSignalHandlers": False}, name="reactor",
                                           daemon=True)
        _reactor_thread.start()
    return r


def free_port(host: str = "127.0.0.1") -> int:
    """A port number free for both UDP and TCP on ``host`` (a server listens on both).

    Chosen below the kernel's ephemeral range, so that an outgoing connection made
    between this call and the bind (etcd clients, upstream queries) cannot take it.
    """
    import socket
    from random import SystemRandom

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low = _ephemeral_low()
    for _ in range(200):
        port = SystemRandom().randrange(10000, low)
        with socket.socket(family, socket.SOCK_DGRAM) as u, socket.socket(family, socket.SOCK_STREAM) as t:
            try:
                u.bind((host, port))
                t.bind((host, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free for both UDP and TCP")


def _ephemeral_low() -> int:
    """The first port of the range the kernel hands out to unbound sockets."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return max(int(f.read().split()[0]), 10001)
    except (OSError, ValueError, IndexError):
        return 32768


def eventually(fn, timeout: float = 5.0, interval: float = 0.02):
    """Call ``fn`` until it returns a true value (returned) or ``timeout`` passes (its last value):
    what a test waits on instead of a fixed sleep."""
    import time

    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


def call(fn, *args, **kwargs):
    """Run ``fn`` in the reactor thread and wait for its result (Deferreds are waited for)."""
    return threads.blockingCallFromThread(reactor(), fn, *args, **kwargs)


class RunningServer:
    """A SkyDNSService serving a Corefile written to a temporary directory."""

    def __init__(self, service, corefile: str, clock=None):
        self.service = service
        self.corefile = corefile
        #: the task.Clock plugins take time from, when the test gave one
        self.clock = clock

    @property
    def port(self) -> int:
        """The port of the first listener (the one to query for single-block Corefiles)."""
        return next(iter(self.service.listeners.values())).port

    def ports(self) -> dict:
        """Configured (host, port) -> bound port of every listener."""
        return {key: listener.port for key, listener in self.service.listeners.items()}

    def query(self, qname: str, qtype="A", tcp: bool = False, host: str = "127.0.0.1",
              port: int | None = None, timeout: float = 3.0, source: str | None = None,
              **make_query_args) -> dns.message.Message:
        q = dns.message.make_query(qname, qtype, **make_query_args)
        return self.send(q, tcp=tcp, host=host, port=port, timeout=timeout, source=source)

    def send(self, q: dns.message.Message, tcp: bool = False, host: str = "127.0.0.1",
             port: int | None = None, timeout: float = 3.0, source: str | None = None):
        port = self.port if port is None else port
        if tcp:
            return dns.query.tcp(q, host, port=port, timeout=timeout, source=source)
        return dns.query.udp(q, host, port=port, timeout=timeout, source=source, ignore_trailing=False)

    def advance(self, seconds: float) -> None:
        """Move the test's clock (``serve(..., clock=...)``) on, in the reactor thread: timers due fire."""
        if self.clock is None:
            raise RuntimeError("this server runs on the reactor's time: serve(..., clock=task.Clock())")
        call(self.clock.advance, seconds)

    def find(self, interface) -> list:
        """Every provider of ``interface`` in the running configuration (metrics, readiness, record
        sources...): what a test reads of plugins, as the plugins read one another."""
        return [provider for _block, provider in call(self.service.find, interface)]

    def metrics(self, prefix: str = "skydns_") -> dict:
        """``{(name, labels...): value}`` of every IMetrics provider's samples, read in the reactor thread."""
        from skydns.interfaces import IMetrics

        def read():
            out = {}
            for _block, provider in self.service.find(IMetrics):
                for family in provider.collect(prefix):
                    for sample in family.samples:
                        out[(sample.name,) + tuple(sorted(sample.labels.items()))] = sample.value
            return out

        return call(read)

    def write(self, text: str) -> None:
        """Replace the Corefile's text (for reload tests)."""
        with open(self.corefile, "w") as f:
            f.write(text)

    def reload(self) -> bool:
        """Reload in the reactor thread; True if the new configuration was taken."""
        return call(self.service.reload)

    def stop(self) -> None:
        call(self.service.stopService)


def start(corefile_text: str, directory, registry=None, name: str = "Corefile", wait: bool = True,
          clock=None) -> RunningServer:
    """Write ``corefile_text`` to ``directory/name`` and start a server on it.

    With ``wait`` (the default) this returns once every plugin has started (an
    etcd copy read, or given up on after its start wait); without, as soon as
    the listeners are open, while plugins still start: how a server looks to
    the clients that ask it in its first moments. ``clock``: see the module's docstring.
    """
    from skydns.listen.service import SkyDNSService

    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(corefile_text)
    r = reactor()

    def go():
        svc = SkyDNSService(path, registry=registry, reactor=r, install_signal=False,
                            stop_reactor_on_failure=False, clock=clock)
        d = svc.startService()
        if not wait:
            d.addErrback(lambda f: log.failure("plugins failed to start", f))
            return svc

        def failed(failure):
            # Plugins that fail to start raise here, in the test, and leave the reactor running.
            return defer.maybeDeferred(svc.stopService).addBoth(lambda _: failure)

        return d.addCallbacks(lambda _: svc, failed)

    return RunningServer(call(go), path, clock)


@contextmanager
def serve(corefile_text: str, directory, registry=None, wait: bool = True, clock=None):
    """A running server for the ``with`` block; stopped after it (``wait``, ``clock``: see :func:`start`)."""
    srv = start(corefile_text, directory, registry, wait=wait, clock=clock)
    try:
        yield srv
    finally:
        srv.stop()


def rrsets(msg: dns.message.Message, section: str = "answer") -> list[str]:
    """Records of a section as sorted presentation lines: easy to compare in tests."""
    out = []
    for rrset in getattr(msg, section):
        for line in rrset.to_text().splitlines():
            out.append(line)
    return sorted(out)


def rdtype(text: str) -> int:
    return dns.rdatatype.from_text(text)


def registry(*setups, before: str = "whoami"):
    """The installed plugins plus ``setups`` (IPluginSetup objects, as built-ins) placed, in the order
    given, just before the built-in ``before`` in the chain: for tests that need a plugin nobody installs."""
    from skydns.config import directives
    from skydns.config.registry import Registry

    builtin: dict[str, object] = dict(directives.BUILTIN)
    order = list(directives.ORDER)
    at = order.index(before)
    for i, setup in enumerate(setups):
        builtin[setup.name] = setup
        order.insert(at + i, setup.name)
    return Registry(builtin=builtin, order=tuple(order))
