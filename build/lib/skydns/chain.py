"""Helpers for plugins that pass requests on, and for describing a chain."""
from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred
from zope.interface import implementer

from skydns.errors import NoNextPlugin
from skydns.interfaces import IHandler


def next_or_failure(name: str, next, request):
    """Pass ``request`` to ``next``; with no next plugin, fail (the server answers SERVFAIL)."""
    if next is None:
        raise NoNextPlugin(name)
    return next.serve(request)


def then(result, fn: Callable):
    """Apply ``fn`` to a handler's result, now if it is ready, later if it is a Deferred.

    Keeps the synchronous path free of Deferreds.
    """
    if isinstance(result, Deferred):
        return result.addCallback(fn)
    return fn(result)


def names(head) -> list[str]:
    """Names of the handlers in a chain, outermost first."""
    out = []
    h = head
    while h is not None:
        out.append(h.name)
        h = getattr(h, "next", None)
    return out


@implementer(IHandler)
class HandlerFunc:
    """A handler made of a function ``fn(request)``: for tests and very small plugins."""

    def __init__(self, name: str, fn: Callable, next=None):
        self.name = name
        self.fn = fn
        self.next = next

    def serve(self, request):
        return self.fn(request)
