"""Helpers for plugins that pass requests on and post-process what comes back, and for describing a chain."""
from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from zope.interface import implementer

from skydns.config.errors import NoNextPlugin
from skydns.interfaces import IHandler
from skydns.query.reply import MessageStream, Reply


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


def post_process(result, fn: Callable):
    """Call ``fn(reply)`` with a :class:`skydns.query.reply.Reply` of what ``next`` answered, and return
    what ``fn`` returns, now or when a Deferred fires. A dropped query (None) and a zone
    transfer (a :class:`~skydns.query.reply.MessageStream`: its messages are the zone's, signed
    and ordered by whoever made it) pass by without ``fn``. The usual shape of a post-processing plugin::

        def serve(self, request):
            return post_process(next_or_failure(self.name, self.next, request),
                                lambda reply: self._change(reply, request))
    """
    if isinstance(result, Deferred):
        return result.addCallback(_post, fn)
    return _post(result, fn)


def _post(result, fn: Callable):
    if result is None or result.__class__ is MessageStream:
        return result
    return fn(Reply(result))


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
