"""Subcommands of the ``skydns`` program that distributions register (``skydns.commands`` entry points).

``skydns NAME ARGS...`` loads the entry point ``NAME`` of the group, checks
that it provides :class:`skydns.interfaces.ICommand` and runs it. Nothing is
imported until a command is used (or listed by ``skydns --help``), so a
broken distribution only breaks its own command.
"""
from __future__ import annotations

import importlib.metadata

from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from skydns.interfaces import ICommand

GROUP = "skydns.commands"


def _entry_points() -> dict:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def load(name: str, entry_points: dict | None = None):
    """The ICommand registered as ``name``; LookupError saying what is wrong otherwise."""
    eps = _entry_points() if entry_points is None else entry_points
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "none"
        raise LookupError(f"unknown command '{name}' (commands: {known}; see skydns --help)")
    try:
        obj = ep.load()
    except Exception as e:
        raise LookupError(f"cannot load command '{name}' ({ep.value}): {e}") from e
    if isinstance(obj, type):
        obj = obj()
    try:
        verifyObject(ICommand, obj)
    except Invalid as e:
        raise LookupError(f"command '{name}' ({ep.value}) is not a skydns command: {e}") from e
    return obj


def available(entry_points: dict | None = None) -> list[tuple[str, str]]:
    """``(name, summary)`` of every registered command that loads."""
    eps = _entry_points() if entry_points is None else entry_points
    out = []
    for name in sorted(eps):
        try:
            out.append((name, load(name, eps).summary))
        except LookupError as e:
            out.append((name, f"(broken: {e})"))
    return out
