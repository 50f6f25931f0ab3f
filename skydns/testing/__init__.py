"""Helpers for testing skydns and third-party plugins against a real server.

The server runs in a reactor on a background thread; tests talk to it over
real loopback sockets with dnspython, as any client would::

    with serve(".:0 { whoami }", tmp_path) as srv:
        reply = srv.query("example.org.", "A")

For plugins under test, :func:`registry` adds setups to the installed
plugins without installing anything, and :class:`RecordsSetup` is a small
authoritative data source (``records { ... }``) to put behind a
post-processing plugin. Nothing here is used by the server itself.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, cast

import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from twisted.internet import defer, threads
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import IHandler, IPluginSetup
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NXDOMAIN
from skydns.query.zones import in_zones

_reactor_thread: threading.Thread | None = None
log = Logger(namespace="skydns.testing")


def reactor():
    """The global reactor, running in a daemon thread (started on first use)."""
    global _reactor_thread
    from twisted.internet import reactor as r

    if _reactor_thread is None:
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


def call(fn, *args, **kwargs):
    """Run ``fn`` in the reactor thread and wait for its result (Deferreds are waited for)."""
    return threads.blockingCallFromThread(reactor(), fn, *args, **kwargs)


class RunningServer:
    """A SkyDNSService serving a Corefile written to a temporary directory."""

    def __init__(self, service, corefile: str):
        self.service = service
        self.corefile = corefile

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

    def plugin(self, name: str, block: int = 0):
        """The handler of plugin ``name`` in the running chain of the ``block``-th server block (for tests
        that look inside a plugin; plugins themselves find each other by interface, never by name)."""
        found = [h for h in self.service.generation.blocks[block].handlers() if h.name == name]
        if not found:
            raise LookupError(f"no plugin {name!r} in the chain of block {block}")
        return found[0]

    def write(self, text: str) -> None:
        """Replace the Corefile's text (for reload tests)."""
        with open(self.corefile, "w") as f:
            f.write(text)

    def reload(self) -> bool:
        """Reload in the reactor thread; True if the new configuration was taken."""
        return call(self.service.reload)

    def stop(self) -> None:
        call(self.service.stopService)


def start(corefile_text: str, directory, registry=None, name: str = "Corefile", wait: bool = True) -> RunningServer:
    """Write ``corefile_text`` to ``directory/name`` and start a server on it.

    With ``wait`` (the default) this returns once every plugin has started (an
    etcd copy read, or given up on after its start wait); without, as soon as
    the listeners are open, while plugins still start: how a server looks to
    the clients that ask it in its first moments.
    """
    from skydns.listen.service import SkyDNSService

    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(corefile_text)
    r = reactor()

    def go():
        svc = SkyDNSService(path, registry=registry, reactor=r, install_signal=False,
                            stop_reactor_on_failure=False)
        d = svc.startService()
        if not wait:
            d.addErrback(lambda f: log.failure("plugins failed to start", f))
            return svc

        def failed(failure):
            # Plugins that fail to start raise here, in the test, and leave the reactor running.
            return defer.maybeDeferred(svc.stopService).addBoth(lambda _: failure)

        return d.addCallbacks(lambda _: svc, failed)

    return RunningServer(call(go), path)


@contextmanager
def serve(corefile_text: str, directory, registry=None, wait: bool = True):
    """A running server for the ``with`` block; stopped after it (``wait``: see :func:`start`)."""
    srv = start(corefile_text, directory, registry, wait=wait)
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


@implementer(IHandler)
class Records:
    """Answers authoritatively for its zones from fixed records; other names go to the next plugin."""

    name = "records"

    def __init__(self, zones: dict[str, dns.zone.Zone], next=None):
        self.zones = zones
        self.next = next

    def serve(self, request):
        origin = in_zones(request.qname, self.zones)
        if origin is None:
            return next_or_failure(self.name, self.next, request)
        zone = self.zones[origin]
        reply = request.reply(authoritative=True)
        name = dns.name.from_text(request.qname)
        node = zone.get_node(name)
        if node is None:
            reply.set_rcode(NXDOMAIN)
        else:
            asked = request.message.question[0].name
            for rdtype in (request.qtype, dns.rdatatype.CNAME):
                found = node.get_rdataset(dns.rdataclass.IN, rdtype)
                if found is not None:
                    rrset = dns.rrset.RRset(asked, dns.rdataclass.IN, rdtype)
                    rrset.update(found)
                    reply.answer.append(rrset)
                    break
        if not reply.answer:
            apex = dns.name.from_text(origin)
            soa = zone.find_rdataset(apex, dns.rdatatype.SOA)
            rrset = dns.rrset.RRset(apex, dns.rdataclass.IN, dns.rdatatype.SOA)
            rrset.update(soa)
            reply.authority.append(rrset)
        return reply


@implementer(IPluginSetup)
class RecordsSetup:
    """``records ZONE { RECORD... }``: a zone of fixed records, one per line in zone-file form
    (``www 60 IN A 192.0.2.1``, names relative to ZONE); an SOA is made when none is given.
    Several ``records`` directives make several zones. Add it with :func:`registry`."""

    name = "records"
    position = None

    def parse(self, d, block):
        zones = {}
        while d.next():
            args = d.zones(d.remaining_args())
            if len(args) != 1:
                raise d.arg_error()
            origin = args[0]
            lines = [" ".join([d.val] + d.remaining_args()) for _ in d.block()]
            if not any(" SOA " in f" {line} " for line in lines):
                lines.insert(0, f"@ 60 IN SOA ns.{origin} hostmaster.{origin} 1 7200 3600 86400 30")
            try:
                zones[origin] = dns.zone.from_text("\n".join(lines) + "\n", origin, relativize=False,
                                                  check_origin=False)
            except Exception as e:
                raise d.error(f"bad records for {origin}: {e}") from e
        return zones

    def build(self, zones, block, next):
        return Records(zones, next)
