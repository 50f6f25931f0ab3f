"""A server block at run time: its zones, listen addresses, options, chain, and what its plugins offer."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zope.interface import implementer

from skydns.config.corefile.parser import ServerBlock
from skydns.config.errors import CorefileError
from skydns.interfaces import IHandler, IListenerSettings, IServerBlock
from skydns.listen.transport import StreamLimits

_DEFAULT = StreamLimits()
#: The key of :meth:`Block.shared`'s dict that lists every block of the configuration (for observe_all).
ALL_BLOCKS = ("skydns", "blocks")


@implementer(IListenerSettings)
@dataclass
class ListenerSettings:
    """How a block's listeners listen: what ``bind``, ``timeouts``, ``tcp``, ``tls`` and ``workers`` set
    (through :meth:`skydns.interfaces.IListenerSetup.configure`), the defaults otherwise."""

    bind: list[str] = field(default_factory=list)
    idle: float = _DEFAULT.idle
    read: float = _DEFAULT.read
    write: float = _DEFAULT.write
    max_connections: int = _DEFAULT.max_connections
    tls: Any = None
    workers: int = 1
    cookies: Any = None  # skydns.query.cookies.Jar, from the cookie directive
    rrl: Any = None  # skydns.query.ratelimit.Limiter, from the rrl directive

    def limits(self) -> StreamLimits:
        return StreamLimits(self.idle, self.read, self.write, self.max_connections)


@implementer(IServerBlock)
class Block:
    """What plugins of one server block share; one object per block, passed to every setup.

    :ivar keys: the block's ``ZONE:PORT`` keys.
    :ivar zones: the zones of those keys, the default zones of its plugins.
    :ivar settings: its :class:`ListenerSettings` (addresses, stream limits, certificate, workers).
    :ivar chain: the first handler of the chain, set once every plugin is built.
    :ivar corefile: path of the Corefile this block came from.
    :ivar service: the running :class:`skydns.listen.service.SkyDNSService` (None when only validating).
    :ivar clock: what plugins take time and timers from (IReactorTime): the reactor, or a
        ``task.Clock`` a test gives.
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
        self.clock = reactor
        self.service = service
        self.settings = ListenerSettings()
        self.chain: Any = None
        self.plugins: list[str] = []  # every directive used, in chain order
        #: fn(request, reply_bytes) called after every reply the block sends, in chain order;
        #: plugins that only watch replies (log, prometheus) add themselves with observe()
        self.observers: tuple = ()
        self.observer_names: list[str] = []
        #: handlers (innermost first, as built) and other announced objects; see find()
        self._handlers: list = []
        self._provided: list = []
        #: per-configuration objects of shared(); the same dict for every block of a configuration
        self._shared: dict = {}
        self._startup: list[Callable] = []
        self._shutdown: list[Callable] = []

    @property
    def observed(self) -> bool:
        """True when something watches this block's replies (an observer registered with :meth:`observe`)."""
        return bool(self.observers)

    @property
    def ports(self) -> list[int]:
        seen: dict[int, None] = {}
        for k in self.keys:
            seen.setdefault(k.port, None)
        return list(seen)

    # -- what plugins offer each other ------------------------------------------
    def add_handler(self, handler) -> None:
        """Announce a handler as it is built (the server does this for every plugin)."""
        self._handlers.insert(0, handler)

    def provide(self, obj) -> None:
        """Announce ``obj`` to the plugins of this configuration (see :meth:`find`)."""
        if not any(o is obj for _, o in self._provided):
            # how many handlers are built: the chain is built from its end, so a larger number is a plugin
            # nearer the front (dnssec's signed zone before the etcd zone it signs)
            self._provided.append((len(self._handlers), obj))
            self._provided.sort(key=lambda entry: -entry[0])  # stable: one plugin's objects in their order

    def find(self, interface) -> list:
        """Every handler, then every other announced object, providing ``interface``; both in chain order
        (objects announced by a plugin nearer the front of the chain come first)."""
        return [o for o in self._handlers + [o for _, o in self._provided] if interface.providedBy(o)]

    def require(self, interface, plugin: str, what: str):
        """The first provider of ``interface`` in this block, or a CorefileError at ``plugin``'s directive."""
        found = self.find(interface)
        if found:
            return found[0]
        raise self.error(plugin, f"needs {what} in this server block")

    def error(self, plugin: str, message: str) -> CorefileError:
        """A CorefileError at the line of ``plugin``'s (first) directive in this block, for ``build`` to raise."""
        occurrences = self.ast.occurrences(plugin)
        file, line = (occurrences[0].file, occurrences[0].line) if occurrences else (self.corefile, None)
        return CorefileError(message, file, line, plugin)

    def handlers(self) -> list:
        """The chain's handlers, outermost first."""
        return [h for h in self._handlers if IHandler.providedBy(h)]

    # -- replies and lifecycle ---------------------------------------------------
    def observe(self, name: str, fn: Callable) -> None:
        """Call ``fn(request, reply)`` with the bytes of every reply this block sends.

        For plugins that watch answers without changing them: they stay out of the
        chain, so a query pays one call for them, not a chain step plus a call.
        Plugins are built innermost first, so each observer goes in front.
        """
        self.observers = (fn,) + self.observers
        self.observer_names.insert(0, name)

    def observe_all(self, name: str, fn: Callable) -> None:
        """:meth:`observe` every block of this configuration (a console counting all the server's replies)."""
        for block in self._shared.get(ALL_BLOCKS, [self]):
            block.observe(name, fn)

    def on_startup(self, fn: Callable) -> None:
        """Run ``fn()`` (which may return a Deferred) when the configuration starts serving."""
        self._startup.append(fn)

    def on_shutdown(self, fn: Callable) -> None:
        """Run ``fn()`` (which may return a Deferred) when the configuration is retired."""
        self._shutdown.append(fn)

    # -- sharing -----------------------------------------------------------------
    def shared(self, key, factory: Callable):
        """The object of ``key`` for every block of this configuration, made by the first that asks."""
        obj = self._shared.get(key, self._shared)
        if obj is self._shared:
            obj = self._shared[key] = factory()
        return obj

    def acquire(self, key, factory: Callable, release: Callable):
        """An object shared by every configuration that asks for ``key``, kept across reloads.

        ``factory()`` makes it the first time; ``release(obj)`` runs when the last
        configuration using it is retired. Without a service (plain builds in
        tests) the object is private to this block.
        """
        service = self.service
        if service is None:
            obj = factory()
            self.on_shutdown(lambda: release(obj))
            return obj
        obj = service.shared.acquire(key, factory)
        self.on_shutdown(lambda: service.shared.release(key, release))
        return obj
