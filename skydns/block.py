"""A server block at run time: its zones, listen addresses, options and chain."""
from __future__ import annotations

from typing import Callable

from skydns.corefile.parser import ServerBlock

DEFAULT_IDLE_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 200


class Block:
    """What plugins of one server block share; one object per block, passed to every setup.

    :ivar keys: the block's ``ZONE:PORT`` keys.
    :ivar zones: the zones of those keys, the default zones of its plugins.
    :ivar bind: addresses to listen on (``bind``); empty means every address.
    :ivar idle_timeout: seconds an idle TCP connection is kept (``timeouts``).
    :ivar max_connections: concurrent TCP connections per listener, 0 for no cap (``tcp``).
    :ivar chain: the first handler of the chain, set once every plugin is built.
    :ivar corefile: path of the Corefile this block came from.
    :ivar service: the running :class:`skydns.service.SkyDNSService` (None when only validating).
    """

    def __init__(self, ast: ServerBlock, corefile: str, reactor=None, service=None):
        self.ast = ast
        self.keys = ast.keys
        zones: dict[str, None] = {}
        for k in ast.keys:
            zones.setdefault(k.zone, None)
        self.zones = list(zones)
        #: how logs and metrics name the block: its keys as written
        self.name = " ".join(k.text for k in ast.keys)
        self.corefile = corefile
        self.files: list[str] = [corefile]  # the Corefile and every file it imported
        self.reactor = reactor
        self.service = service
        self.bind: list[str] = []
        self.idle_timeout = DEFAULT_IDLE_TIMEOUT
        self.max_connections = DEFAULT_MAX_CONNECTIONS
        self.workers = 1
        self.chain = None
        self.plugins: list[str] = []  # every directive used, in chain order
        #: name -> handler, filled as the chain is built; for plugins that work with another
        #: (stub uses etcd's copy). Look others up in a startup hook, not in build.
        self.handlers: dict[str, object] = {}
        #: fn(request, reply_bytes) called after every reply the block sends, in chain order;
        #: plugins that only watch replies (log, prometheus) add themselves with observe()
        self.observers: tuple = ()
        self.observer_names: list[str] = []
        self._startup: list[Callable] = []
        self._shutdown: list[Callable] = []

    @property
    def ports(self) -> list[int]:
        seen: dict[int, None] = {}
        for k in self.keys:
            seen.setdefault(k.port, None)
        return list(seen)

    def observe(self, name: str, fn: Callable) -> None:
        """Call ``fn(request, reply)`` with the bytes of every reply this block sends.

        For plugins that watch answers without changing them: they stay out of the
        chain, so a query pays one call for them, not a chain step plus a call.
        Plugins are built innermost first, so each observer goes in front.
        """
        self.observers = (fn,) + self.observers
        self.observer_names.insert(0, name)

    def on_startup(self, fn: Callable) -> None:
        """Run ``fn()`` (which may return a Deferred) when the configuration starts serving."""
        self._startup.append(fn)

    def acquire(self, key, factory: Callable, release: Callable):
        """An object shared by every configuration that asks for ``key``, kept across reloads.

        ``factory()`` makes it the first time; ``release(obj)`` runs when the last
        configuration using it is retired. Without a service (plain builds in
        tests) the object is private to this block.
        """
        if self.service is None:
            obj = factory()
            self.on_shutdown(lambda: release(obj))
            return obj
        obj = self.service.shared.acquire(key, factory)
        self.on_shutdown(lambda: self.service.shared.release(key, release))
        return obj

    def on_shutdown(self, fn: Callable) -> None:
        """Run ``fn()`` (which may return a Deferred) when the configuration is retired."""
        self._shutdown.append(fn)
