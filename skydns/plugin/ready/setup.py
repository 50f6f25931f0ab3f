"""Corefile: ``ready [ADDRESS]`` (CoreDNS's; default ``:8181``, path ``/ready``).

``/ready`` answers 200 ``OK`` once every provider of
:class:`skydns.interfaces.IReadiness` in the running configuration is ready
(the etcd copies have been read, a third-party plugin's own condition).
Otherwise 503, with one line per provider that is not ready.
"""
from __future__ import annotations

from twisted.web.resource import Resource
from zope.interface import implementer

from skydns.httpserver import address_argument, shared_listener
from skydns.interfaces import IPluginSetup, IReadiness


class ReadyResource(Resource):
    isLeaf = True

    def __init__(self, service, blocks):
        super().__init__()
        self.service = service
        self.blocks = blocks  # used when there is no service (plain builds)

    def reasons(self) -> list[str]:
        if self.service is not None:
            found = self.service.find(IReadiness)
        else:
            found = [(b, obj) for b in self.blocks for obj in b.find(IReadiness)]
        out = []
        for block, obj in found:
            why = obj.ready()
            if why:
                out.append(f"{block.name}: plugin/{obj.name}: {why}")
        return out

    def render_GET(self, request):
        reasons = self.reasons()
        if not reasons:
            return b"OK"
        request.setResponseCode(503)
        return ("\n".join(reasons) + "\n").encode()


@implementer(IPluginSetup)
class ReadySetup:
    name = "ready"
    position = None

    def parse(self, d, block):
        d.next()
        host, port = address_argument(d, ":8181", 8181)
        for _ in d.block():
            raise d.unknown_property(())
        if d.next():
            raise d.once_error()
        return host, port, (d.token.file, d.token.line)

    def build(self, cfg, block, next):
        host, port, where = cfg
        listener = shared_listener(block, host, port, where)
        if b"ready" not in listener.mounted:
            listener.mount("/ready", ReadyResource(block.service, [block]))
        return None


setup = ReadySetup()
