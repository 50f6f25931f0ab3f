"""Corefile: ``ready [ADDRESS] { monitor until-ready|continuously }`` (CoreDNS's; default ``localhost:8181``,
path ``/ready``).

``/ready`` answers 200 ``OK`` once every provider of
:class:`skydns.interfaces.IReadiness` in the running configuration is ready
(the etcd copies have been read, a third-party plugin's own condition).
Otherwise 503, with one line per provider that is not ready: its block and
plugin, not its reason (which can name etcd's address and path); the reasons
go to the log when they change. Loopback by default (CoreDNS: every address).

``monitor continuously`` (skydns's default) keeps asking: a copy that etcd no longer
confirms makes ``/ready`` 503 again (the SPEC: an unreachable etcd is reported not
ready). ``monitor until-ready`` (CoreDNS's default) stops once everything was ready
and answers 200 from then on.
"""
from __future__ import annotations

from twisted.logger import Logger
from twisted.web.resource import Resource
from zope.interface import implementer

from skydns.interfaces import IPluginSetup, IReadiness
from skydns.listen.httpserver import address_argument, shared_listener

log = Logger(namespace="skydns.plugin.ready")


class ReadyResource(Resource):
    isLeaf = True

    def __init__(self, service, blocks, until_ready: bool = False):
        super().__init__()
        self.service = service
        self.blocks = blocks  # used when there is no service (plain builds)
        self.until_ready = until_ready
        self.was_ready = False
        self.logged: list[str] = []

    def reasons(self) -> list[tuple[str, str]]:
        """``(block: plugin/NAME, why)`` of every provider that is not ready."""
        if self.service is not None:
            found = self.service.find(IReadiness)
        else:
            found = [(b, obj) for b in self.blocks for obj in b.find(IReadiness)]
        out = []
        for block, obj in found:
            why = obj.ready()
            if why:
                out.append((f"{block.name}: plugin/{obj.name}", why))
        return out

    def render_GET(self, request):
        if self.until_ready and self.was_ready:
            return b"OK"
        reasons = self.reasons()
        lines = [f"{who}: {why}" for who, why in reasons]
        if lines != self.logged:
            for line in lines:
                log.info("not ready: {line}", line=line)
            self.logged = lines
        if not reasons:
            self.was_ready = True
            return b"OK"
        request.setResponseCode(503)
        return ("".join(f"{who}: not ready\n" for who, _ in reasons)).encode()


@implementer(IPluginSetup)
class ReadySetup:
    name = "ready"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "ready 127.0.0.1:${http_port}"

    def parse(self, d, block):
        d.next()
        host, port = address_argument(d, "localhost:8181", 8181)
        where = (d.token.file, d.token.line)
        until_ready = False
        for _ in d.block():
            if d.val != "monitor":
                raise d.unknown_property(("monitor",))
            args = d.remaining_args()
            if len(args) != 1 or args[0] not in ("until-ready", "continuously"):
                raise d.error("monitor takes until-ready or continuously")
            until_ready = args[0] == "until-ready"
        if d.next():
            raise d.once_error()
        return host, port, where, until_ready

    def build(self, cfg, block, next):
        host, port, where, until_ready = cfg
        listener = shared_listener(block, host, port, where)
        if b"ready" not in listener.mounted:
            listener.mount("/ready", ReadyResource(block.service, [block], until_ready))
        return None


setup = ReadySetup()
