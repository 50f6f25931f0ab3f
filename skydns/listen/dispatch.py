"""The reactor's dispatch of ready sockets, without a legacy log context per event.

Twisted's epoll reactor hands each ready descriptor to ``_doReadOrWrite`` through
``log.callWithLogger``: the descriptor's ``logPrefix()`` is asked, and the legacy log context is
copied, pushed and popped around the call, so that an old-style ``log.msg`` made inside says which
connection it came from. skydns logs through ``twisted.logger`` (namespaces, not that context);
with a thousand DoH clients of one query each, every query is one event of its own, and the wrapper
was 7 % of the server's samples (py-spy), about 2.5 us a query.

:func:`lean_dispatch` gives the process's epoll reactor a pass that calls ``_doReadOrWrite``
directly; everything else is Twisted's (that method still logs and disconnects a descriptor whose
``doRead``/``doWrite`` raises). Other reactors are left as they are.
"""
from __future__ import annotations

import types

from twisted.logger import Logger

log = Logger()


def lean_dispatch(reactor) -> bool:
    """Give ``reactor`` the lean pass if it is Twisted's epoll reactor; True if it now has it."""
    try:
        from twisted.internet.epollreactor import EPollReactor
    except ImportError:  # not Linux
        return False
    if not isinstance(reactor, EPollReactor):
        return False
    reactor.doIteration = types.MethodType(_do_poll, reactor)  # type: ignore[method-assign]
    return True


def _do_poll(self, timeout) -> None:
    """One pass: wait for events (``timeout`` seconds, None for ever), then serve each ready descriptor."""
    try:
        # as Twisted does: at most as many events as descriptors watched
        events = self._poller.poll(-1 if timeout is None else timeout, len(self._selectables))
    except InterruptedError:
        return
    selectables, dispatch = self._selectables, self._doReadOrWrite
    for fd, event in events:
        selectable = selectables.get(fd)
        if selectable is None:  # removed by an earlier event of this pass
            continue
        try:
            dispatch(selectable, fd, event)
        except Exception:  # the rest of the pass is still served
            log.failure("serving an event of {selectable!r}", selectable=selectable)
