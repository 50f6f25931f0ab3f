"""Corefile: ``health [ADDRESS] { lameduck DURATION }`` (CoreDNS's; default ``localhost:8080``, path ``/health``).

CoreDNS listens on every address by default (``:8080``); here the default is loopback, and
``health :8080`` listens everywhere as written (docs/security.md).

``/health`` answers 200 ``OK`` while the process runs. With ``lameduck``, a
shutdown (SIGTERM) first turns ``/health`` to 503 and waits DURATION while
queries are still answered, so load balancers stop sending before the server
goes away.
"""
from __future__ import annotations

from twisted.internet import task
from twisted.logger import Logger
from twisted.web.resource import Resource
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.listen.httpserver import address_argument, shared_listener

log = Logger(namespace="skydns.plugin.health")


class HealthState(Resource):
    """The /health resource and the lame-duck shutdown trigger; one per process."""

    isLeaf = True

    def __init__(self, reactor, service=None):
        super().__init__()
        self.reactor = reactor
        self.service = service
        self.lameduck = 0.0
        self.healthy = True
        self.trigger = None
        if service is not None:
            # The service waits for this before it closes anything.
            service.before_stop.append(self._shutting_down)
        else:
            self.trigger = reactor.addSystemEventTrigger("before", "shutdown", self._shutting_down)

    def render_GET(self, request):
        if self.healthy:
            return b"OK"
        request.setResponseCode(503)
        return b"lame duck: shutting down\n"

    def _shutting_down(self):
        self.healthy = False
        if self.lameduck > 0:
            log.info("going lame duck for {secs:g}s before shutting down", secs=self.lameduck)
            return task.deferLater(self.reactor, self.lameduck, lambda: None)
        return None

    def close(self):
        if self.service is not None and self._shutting_down in self.service.before_stop:
            self.service.before_stop.remove(self._shutting_down)
        if self.trigger is not None:
            try:
                self.reactor.removeSystemEventTrigger(self.trigger)
            except (ValueError, KeyError):
                pass


@implementer(IPluginSetup)
class HealthSetup:
    name = "health"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "health 127.0.0.1:${http_port}"

    def parse(self, d, block):
        d.next()
        host, port = address_argument(d, "localhost:8080", 8080)
        lameduck = 0.0
        for _ in d.block():
            if d.val != "lameduck":
                raise d.unknown_property(("lameduck",))
            vals = d.args(1)
            lameduck = d.duration_value(vals[0])
        if d.next():
            raise d.once_error()
        return host, port, lameduck, (d.token.file, d.token.line)

    def build(self, cfg, block, next):
        host, port, lameduck, where = cfg
        reactor = block.reactor
        state = block.acquire(("health-state",), lambda: HealthState(reactor, block.service),
                              lambda s: s.close())
        state.lameduck = lameduck  # the running configuration decides
        listener = shared_listener(block, host, port, where)
        listener.mount("/health", state)
        return None


setup = HealthSetup()
