"""From a Corefile to a running configuration: parse, let plugins parse, build chains.

Loading happens in two steps so that checking a Corefile has no side
effects: :func:`load` reads the file and runs every plugin's ``parse``
(used by ``--validate`` and first by every reload), and
:meth:`Config.build` constructs the handlers. :class:`Generation` is one
built configuration: started, swapped in, and retired as a whole.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from skydns.config.block import ALL_BLOCKS, Block
from skydns.config.corefile.dispenser import Dispenser
from skydns.config.corefile.parser import DEFAULT_PORT, NEED_CERTIFICATE, ServerBlock, parse_file
from skydns.config.errors import CorefileError, NoNextPlugin
from skydns.config.registry import Registry
from skydns.interfaces import IListenerSetup
from skydns.listen.transport import StreamLimits
from skydns.query import chain as query_chain  # the module: it may be half-imported (it imports config)

log = Logger(namespace="skydns.config.loader")


@dataclass
class Config:
    """A parsed Corefile with every plugin's configuration, not yet built."""

    path: str
    files: list[str]
    blocks: list[tuple[Block, list[tuple[str, Any, Any]]]]

    def build(self, reactor=None, service=None, clock=None) -> Generation:
        """Build every block's chain (innermost plugin first); no I/O happens here.

        ``reactor`` defaults to the global one: every plugin finds it as ``block.reactor``, and its
        time as ``block.clock`` unless ``clock`` (a ``task.Clock``, say) is given.
        """
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        built = []
        shared: dict = {}  # Block.shared(): one dict for every block of this configuration
        shared[ALL_BLOCKS] = [block for block, _plugins in self.blocks]  # Block.observe_all()
        for block, plugins in self.blocks:
            block.reactor = reactor
            block.clock = clock if clock is not None else reactor
            block.service = service
            block._shared = shared
            nxt = None
            for name, setup, cfg in reversed(plugins):
                try:
                    handler = setup.build(cfg, block, nxt)
                except CorefileError:
                    raise
                except Exception as e:
                    first = block.ast.occurrences(name)[0]
                    raise CorefileError(f"cannot build: {e}", first.file, first.line, name) from e
                if handler is not None:
                    block.add_handler(handler)
                    nxt = handler
            block.chain = nxt if nxt is not None else _NoPlugins()
            built.append(block)
        return Generation(self.path, self.files, built)

    def parsed(self, setup) -> list[tuple[Block, Any]]:
        """``(block, configuration)`` for every block that uses the plugin of ``setup`` (an IPluginSetup).

        For a plugin's own commands (``skydns ds`` reads the dnssec keys of a Corefile).
        """
        return [(block, cfg) for block, plugins in self.blocks for _, s, cfg in plugins if s is setup]


def load(path: str, registry: Registry | None = None, default_port: int = DEFAULT_PORT) -> Config:
    """Parse the Corefile at ``path`` and every directive in it; raise CorefileError on any problem."""
    registry = registry or Registry()
    asts, files = parse_file(path, registry.check, default_port)
    blocks = []
    for ast in asts:
        blocks.append(_parse_block(ast, path, registry, files))
    _check_overlaps([b for b, _ in blocks])
    plan_listeners([b for b, _ in blocks])  # two transports or certificates on one port: refused here
    return Config(path, files, blocks)


def _parse_block(ast: ServerBlock, path: str, registry: Registry, files: list[str]):
    block = Block(ast, path)
    block.files = files
    firsts = {name: ast.occurrences(name)[0].tokens[0] for name in ast.names()}
    order = registry.ordered(ast.names(), firsts)
    block.plugins = order
    plugins = []
    for name in order:
        setup = registry.setup(name, firsts[name])
        d = Dispenser(name, ast.occurrences(name))
        try:
            cfg = setup.parse(d, block)
            if IListenerSetup.providedBy(setup):
                setup.configure(cfg, block.settings)
        except CorefileError:
            raise
        except Exception as e:
            tok = d.token
            raise CorefileError(f"{type(e).__name__}: {e}", tok.file, tok.line, name) from e
        plugins.append((name, setup, cfg))
    for k in ast.keys:
        if k.transport in NEED_CERTIFICATE and block.settings.tls is None:
            raise CorefileError(f"'{k.text}' is DNS over TLS and needs a certificate: add 'tls CERT KEY' "
                                "to this server block", k.file, k.line)
    return block, plugins


def _check_overlaps(blocks: list[Block]) -> None:
    """Two blocks may not serve the same zone on the same port (and address)."""
    seen: dict[tuple, Block] = {}
    for b in blocks:
        hosts = b.settings.bind or [""]
        for k in b.keys:
            for h in hosts:
                key = (h, k.port, k.zone)
                if key in seen and seen[key] is not b:
                    other = seen[key]
                    raise CorefileError(
                        f"zone {k.zone} on port {k.port} is served by two server blocks "
                        f"(the other is at {other.ast.file}:{other.ast.line})", k.file, k.line)
                seen[key] = b


def default_host() -> str:
    """Every address: IPv6 and IPv4 on one dual-stack socket where the host has IPv6."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.close()
        return "::"
    except OSError:
        return "0.0.0.0"


@dataclass
class ListenerSpec:
    """One address and port to listen on, and which block serves each zone there."""

    host: str
    port: int
    zones: dict[str, Block] = field(default_factory=dict)
    limits: StreamLimits = StreamLimits()
    transport: str = "dns"  # dns, tls or https (parser.TRANSPORTS)
    tls: Any = None  # skydns.listen.tlsconfig.ServerTLS for tls and https (https without one: plain HTTP)
    guard: Any = None  # skydns.query.guard.Guard: cookies and rate limiting, or None


def plan_listeners(blocks: list[Block]) -> dict[tuple[str, int], ListenerSpec]:
    """One listener per address and port; CorefileError when blocks want two transports or two
    certificates on one of them."""
    specs: dict[tuple[str, int], ListenerSpec] = {}
    users: dict[tuple[str, int], list[Block]] = {}
    for b in blocks:
        hosts = b.settings.bind or [default_host()]
        for k in b.keys:
            for h in hosts:
                spec = specs.get((h, k.port))
                if spec is None:
                    spec = specs[(h, k.port)] = ListenerSpec(h, k.port, transport=k.transport,
                                                             tls=b.settings.tls if k.transport != "dns" else None)
                elif spec.transport != k.transport:
                    raise CorefileError(f"port {k.port} is served as {spec.transport}:// by one server block "
                                        f"and as {k.transport}:// by another", k.file, k.line)
                elif k.transport != "dns" and b.settings.tls != spec.tls:
                    raise CorefileError(f"port {k.port} ({k.transport}://) has two different tls "
                                        "certificates in two server blocks", k.file, k.line)
                spec.zones.setdefault(k.zone, b)
                users.setdefault((h, k.port), []).append(b)
    for key, spec in specs.items():
        spec.limits = StreamLimits.most_permissive(b.settings.limits() for b in users[key])
        jar = _one(users[key], "cookies", "cookie", spec)
        limiter = _one(users[key], "rrl", "rrl", spec)
        if jar is not None or limiter is not None:
            from skydns.query.guard import Guard

            spec.guard = Guard(jar, limiter)
    return specs


def _one(blocks: list[Block], setting: str, directive: str, spec: ListenerSpec):
    """The listener-wide object of ``setting`` (a cookie jar, a rate limiter) the blocks on one port agree on."""
    found = None
    for b in blocks:
        obj = getattr(b.settings, setting)
        if obj is None:
            continue
        if found is not None and found.config != obj.config:
            k = b.keys[0]
            raise CorefileError(f"port {spec.port} is shared by server blocks with different '{directive}' "
                                "settings: one listener has one", k.file, k.line)
        found = found or obj
    return found


class Generation:
    """One built configuration: its blocks, the listeners they need, their lifecycle."""

    def __init__(self, path: str, files: list[str], blocks: list[Block]):
        self.path = path
        self.files = files
        self.blocks = blocks
        self.inflight = 0
        self.started = False

    def listener_specs(self) -> dict[tuple[str, int], ListenerSpec]:
        return plan_listeners(self.blocks)

    def find(self, interface) -> list[tuple[Block, object]]:
        """``(block, provider)`` for every provider of ``interface``, each once (its first block)."""
        out: list[tuple[Block, object]] = []
        seen: set[int] = set()
        for b in self.blocks:
            for obj in b.find(interface):
                if id(obj) not in seen:
                    seen.add(id(obj))
                    out.append((b, obj))
        return out

    def describe(self) -> list[str]:
        """One line per block: its keys and its chain, as logged at start and on reload."""
        lines = []
        for b in self.blocks:
            chain = " -> ".join(query_chain.names(b.chain)) if not isinstance(b.chain, _NoPlugins) else "(empty)"
            extra = [p for p in b.plugins if p not in query_chain.names(b.chain) and p not in b.observer_names]
            obs = f" (replies observed by: {', '.join(b.observer_names)})" if b.observer_names else ""
            cfg = f" (configured by: {', '.join(extra)})" if extra else ""
            lines.append(f"{b.name}: {chain}{obs}{cfg}")
        return lines

    @defer.inlineCallbacks
    def start(self):
        """Run every block's startup hooks in order; the first failure stops and raises."""
        for b in self.blocks:
            for fn in b._startup:
                yield defer.maybeDeferred(fn)
        self.started = True

    @defer.inlineCallbacks
    def stop(self):
        """Run every shutdown hook; failures are logged, not raised, so all of them run."""
        for b in self.blocks:
            for fn in reversed(b._shutdown):
                try:
                    yield defer.maybeDeferred(fn)
                except Exception:
                    log.failure("shutdown of {block} failed", block=b.name)
        self.started = False


class _NoPlugins:
    """The chain of a block with no plugin that answers: every query fails."""

    name = "(none)"
    next = None

    def serve(self, request):
        raise NoNextPlugin("(none)")
