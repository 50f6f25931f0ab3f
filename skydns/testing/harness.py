"""Plugins tested in-process: requests made from dnspython messages, answers recorded, time on a clock.

No socket, no reactor running: a query goes through the same code a real one
does (the server's routing and raw paths, the chain, the delivery that renders,
truncates and tells the observers) and its reply lands in a :class:`Recorder`.
Time is a ``task.Clock`` every plugin of the configuration takes as ``block.clock``,
so a Deferred answer (a timer, a slow upstream) arrives when the test moves it::

    h = Harness('example.org { mything\\n}', registry(MyThingSetup()))
    reply = h.ask("www.example.org.", "A")          # a dnspython message
    assert reply.rcode() == NOERROR
    h.clock.advance(30)                               # its cache entry expired, say

For a single handler, :func:`request` makes the request and :func:`run` runs
``handler.serve`` and delivers what it answers.
"""
from __future__ import annotations

import os
import tempfile

import dns.message
import dns.rdatatype
from twisted.internet import task

from skydns.query.delivery import Delivery
from skydns.query.request import Request

#: The client address of requests made here (TEST-NET-1, RFC 5737).
CLIENT = ("192.0.2.7", 5300)


class Recorder:
    """Where replies go (a sender, as a UDP socket or a TCP connection is): everything sent, kept.

    :ivar sent: ``[(bytes, peer)]`` in order.
    """

    def __init__(self):
        self.sent: list[tuple[bytes, tuple]] = []

    def send(self, data: bytes, peer=None) -> None:
        self.sent.append((data, peer))

    def stream(self, messages, peer=None) -> None:
        """A stream of messages (a zone transfer), written at once."""
        for data in messages:
            self.send(data, peer)

    @property
    def replies(self) -> list[dns.message.Message]:
        """What was sent, as dnspython messages."""
        return [dns.message.from_wire(data, keyring=False) for data, _ in self.sent]

    @property
    def reply(self) -> dns.message.Message | None:
        """The last reply sent, or None when nothing was (a dropped query, or one still out)."""
        return dns.message.from_wire(self.sent[-1][0], keyring=False) if self.sent else None

    def clear(self) -> None:
        self.sent.clear()


def query(name: str, qtype: str | int = "A", **make_query_args) -> dns.message.Message:
    """A dnspython query (``dns.message.make_query``'s arguments: ``use_edns``, ``want_dnssec``...)."""
    return dns.message.make_query(name, dns.rdatatype.RdataType.make(qtype) if isinstance(qtype, int) else qtype,
                                  **make_query_args)


def request(message: dns.message.Message | bytes | str, qtype: str | int = "A", client: tuple = CLIENT,
            proto: str = "udp", transport: str = "dns", sender=None, block=None, zone: str | None = None,
            local: tuple | None = ("127.0.0.1", 53)) -> Request:
    """A :class:`~skydns.query.request.Request` as the server makes one: from a dnspython message,
    wire bytes, or a name (with ``qtype``); its reply goes to ``sender`` (a new :class:`Recorder` by
    default). ``block`` and ``zone`` are what the server's routing would set."""
    if isinstance(message, str):
        message = query(message, qtype)
    data = message if isinstance(message, bytes) else message.to_wire()
    req = Request(data, client, proto, local, transport, sender if sender is not None else Recorder())
    req.block, req.zone = block, zone
    return req


def run(handler, req: Request, delivery: Delivery | None = None) -> Recorder:
    """``handler.serve(req)`` delivered as the server would (rendered, truncated for the transport,
    observers told, SERVFAIL for an exception); returns the request's Recorder. A Deferred answer
    is recorded when it fires."""
    delivery = delivery or Delivery()
    try:
        result = handler.serve(req)
    except Exception:
        delivery.fail(req)
    else:
        delivery.deliver(req, result)
    return req.sender


def count_serves(handler) -> list[str]:
    """Count the queries that reach ``handler.serve`` (the normal path, not the raw one): the list of their
    names grows as they come."""
    calls: list[str] = []
    serve = handler.serve

    def counting(request):
        calls.append(request.qname)
        return serve(request)

    handler.serve = counting
    return calls


class Harness:
    """A Corefile's configuration built in-process, on a ``task.Clock``, answering through the real server.

    ``corefile`` is the Corefile's text (ports may be left out: 53 is assumed); ``registry``
    a :func:`skydns.testing.registry` for plugins that are not installed. The configuration is
    built, not started (no startup hook runs: nothing connects anywhere) unless :meth:`start`
    is called. ``clock`` (a new ``task.Clock`` by default) is every block's ``block.clock`` and
    ``block.reactor``.
    """

    def __init__(self, corefile: str, registry=None, clock=None, directory: str | None = None):
        from skydns import config
        from skydns.query.mux import ZoneMux
        from skydns.query.server import Server

        self.clock = clock if clock is not None else task.Clock()
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory()
            directory = self._tmp.name
        self.path = os.path.join(directory, "Corefile")
        with open(self.path, "w") as f:
            f.write(corefile)
        self.config = config.load(self.path, registry)
        self.generation = self.config.build(self.clock)
        self.servers = {}
        for (host, port), spec in self.generation.listener_specs().items():
            self.servers[port] = Server(ZoneMux(spec.zones), self.generation, (host, port), spec.transport)

    @property
    def blocks(self) -> list:
        """The built server blocks (:class:`skydns.interfaces.IServerBlock`), in Corefile order."""
        return self.generation.blocks

    def find(self, interface) -> list:
        """Every provider of ``interface`` in the configuration (as ``IServer.find`` gives them, block aside)."""
        return [provider for _block, provider in self.generation.find(interface)]

    def start(self):
        """Run the configuration's startup hooks (those that need no network: a test's own plugins)."""
        return self.generation.start()

    def server(self, port: int | None = None):
        """The :class:`skydns.query.server.Server` of ``port`` (the only or first one by default)."""
        if port is None:
            return next(iter(self.servers.values()))
        return self.servers[port]

    def send(self, message: dns.message.Message | bytes, proto: str = "udp", client: tuple = CLIENT,
             port: int | None = None) -> Recorder:
        """Hand ``message`` to the server as a packet from ``client``; the Recorder gets what is sent."""
        data = message if isinstance(message, bytes) else message.to_wire()
        recorder = Recorder()
        self.server(port).handle(data, client, proto, recorder)
        return recorder

    def ask(self, name: str | dns.message.Message, qtype: str | int = "A", proto: str = "udp",
            client: tuple = CLIENT, port: int | None = None, **make_query_args) -> dns.message.Message | None:
        """The reply to a query (a name and type, or a message), or None when none was sent (yet)."""
        message = query(name, qtype, **make_query_args) if isinstance(name, str) else name
        return self.send(message, proto, client, port).reply

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
