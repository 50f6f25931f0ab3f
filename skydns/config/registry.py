"""Which directives exist, where their code is, and their order in the chain.

Built-ins come from :data:`skydns.config.directives.BUILTIN`; third-party plugins
from the ``skydns.plugins`` entry point group, each naming an object that
provides :class:`skydns.interfaces.IPluginSetup` and declares its
``position`` next to a built-in. Entry point *names* are read from package
metadata without importing anything, so a broken distribution only matters
to a Corefile that uses its directive.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from dataclasses import dataclass

from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from skydns.config import directives
from skydns.config.errors import CorefileError
from skydns.interfaces import IPluginSetup

GROUP = "skydns.plugins"


@dataclass(frozen=True)
class PluginInfo:
    """What ``skydns plugins`` prints about one plugin."""

    name: str
    source: str  # "built-in" or "DIST VERSION"
    position: str  # "" for built-ins, "after cache" for others


class Registry:
    """The set of known directives; frozen once built (a reload builds a new one)."""

    def __init__(self, builtin: dict[str, object] | None = None, order: tuple[str, ...] | None = None,
                 entry_points=None):
        """``builtin``: directive -> ``"module:attribute"`` of its setup, or the setup itself (tests);
        ``order``: the chain order of the built-ins; ``entry_points``: instead of the installed ones."""
        self.builtin = dict(directives.BUILTIN if builtin is None else builtin)
        self.order_list = tuple(directives.ORDER if order is None else order)
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=GROUP)
        self.external: dict[str, importlib.metadata.EntryPoint] = {}
        self.clashes: dict[str, list[str]] = {}
        for ep in entry_points:
            if ep.name in self.external:
                self.clashes.setdefault(ep.name, [_dist_of(self.external[ep.name])]).append(_dist_of(ep))
                continue
            self.external[ep.name] = ep
        self._loaded: dict[str, object] = {}

    # -- names --------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(set(self.builtin) | set(self.external))

    def check(self, name: str) -> str | None:
        """None if ``name`` is a usable directive, else what is wrong with it (for the parser)."""
        if name in self.clashes:
            return f"directive '{name}' is claimed by several distributions: {', '.join(self.clashes[name])}"
        if name in self.builtin and name in self.external:
            return (f"directive '{name}' from {_dist_of(self.external[name])} shadows the built-in "
                    "plugin of that name; uninstall one of them")
        if name in self.builtin or name in self.external:
            return None
        if name in self.order_list:
            return f"plugin '{name}' is not available in this version of skydns"
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown directive '{name}'{hint}"

    # -- loading ------------------------------------------------------------
    def setup(self, name: str, token=None):
        """The IPluginSetup of ``name``, imported on first use and checked against the interface."""
        if name in self._loaded:
            return self._loaded[name]
        file, line = (token.file, token.line) if token is not None else (None, None)
        try:
            target = self.builtin.get(name)
            if isinstance(target, str):
                module, _, attr = target.partition(":")
                obj = getattr(importlib.import_module(module), attr)
            elif target is not None:
                obj = target
            else:
                obj = self.external[name].load()
        except Exception as e:
            raise CorefileError(f"cannot load plugin '{name}' ({self.source(name)}): {e}", file, line) from e
        if isinstance(obj, type):
            obj = obj()
        try:
            verifyObject(IPluginSetup, obj)
        except Invalid as e:
            raise CorefileError(f"plugin '{name}' ({self.source(name)}) is not a valid skydns plugin: {e}",
                                file, line) from e
        if getattr(obj, "name", None) != name:
            raise CorefileError(f"plugin registered as '{name}' ({self.source(name)}) calls itself "
                                f"'{getattr(obj, 'name', None)}'", file, line)
        if name in self.external:
            self._check_position(name, obj, file, line)
        self._loaded[name] = obj
        return obj

    def source(self, name: str) -> str:
        if name in self.builtin:
            return "built-in"
        if name in self.external:
            return _dist_of(self.external[name])
        return "unknown"

    def _check_position(self, name, obj, file, line):
        pos = getattr(obj, "position", None)
        ok = (isinstance(pos, tuple) and len(pos) == 2 and pos[0] in ("before", "after")
              and pos[1] in self.order_list)
        if not ok:
            raise CorefileError(
                f"plugin '{name}' ({self.source(name)}) must declare position = ('before'|'after', "
                f"BUILTIN) with a built-in plugin name, got {pos!r}", file, line)

    # -- order --------------------------------------------------------------
    def sort_key(self, name: str) -> tuple:
        if name in self.order_list:
            return (self.order_list.index(name), 1, name)
        where, anchor = self.setup(name).position
        return (self.order_list.index(anchor), 0 if where == "before" else 2, name)

    def ordered(self, names, tokens: dict | None = None) -> list[str]:
        """``names`` in chain order (outermost first), whatever order they were written in."""
        for n in names:
            self.setup(n, (tokens or {}).get(n))
        return sorted(names, key=self.sort_key)

    def describe(self) -> list[PluginInfo]:
        """Every plugin in chain order with where it comes from (loads third-party plugins)."""
        out = []
        usable = [n for n in self.names() if self.check(n) is None]
        for n in sorted(usable, key=lambda n: self.sort_key(n) if n in self.builtin else self._safe_key(n)):
            pos = ""
            if n in self.external:
                p = getattr(self._loaded.get(n), "position", None)
                pos = f"{p[0]} {p[1]}" if p else "(failed to load)"
            out.append(PluginInfo(n, self.source(n), pos))
        return out

    def _safe_key(self, name):
        try:
            return self.sort_key(name)
        except CorefileError:
            return (len(self.order_list), 3, name)


def _dist_of(ep) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return f"entry point {ep.value}"
    return f"{dist.metadata['Name']} {dist.version}"
