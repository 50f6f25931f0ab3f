"""errors: log every error raised in the chain below it, once, with the query; answer SERVFAIL.

Repeated errors that match a ``consolidate`` pattern are counted instead and
written as one line per period, so a failing upstream cannot flood the log.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger, LogLevel
from zope.interface import implementer

from skydns.interfaces import IRawTransparent
from skydns.query import wire
from skydns.query.chain import next_or_failure
from skydns.query.rcode import SERVFAIL
from skydns.query.request import MalformedQuery

log = Logger(namespace="skydns.plugin.errors")

_LEVELS = {"warning": LogLevel.warn, "error": LogLevel.error, "info": LogLevel.info, "debug": LogLevel.debug}
_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
          33: "SRV", 43: "DS", 48: "DNSKEY", 255: "ANY"}


@dataclass
class Pattern:
    """A ``consolidate`` line: errors matching ``regexp`` are counted per ``period``."""

    period: float
    regexp: re.Pattern
    level: str
    count: int = 0
    timer: Any = None
    show_first: bool = False  # log the first error of a period at once


def qtype_text(qtype: int) -> str:
    return _TYPES.get(qtype) or f"TYPE{qtype}"


@implementer(IRawTransparent)
class Errors:
    """Logs errors of the chain below; raw-transparent: it acts only when that chain fails, so the
    server's raw path (a cache behind it answering repeated query bytes) may skip it."""

    name = "errors"
    #: it never answers a query itself: the raw relay may pass it by (IRawTransparent)
    raw_passes_all = True

    @staticmethod
    def raw_passes(query: bytes) -> bool:
        return True

    def __init__(self, next, patterns: list[Pattern], stacktrace: bool = False, reactor=None):
        self.next = next
        self.patterns = patterns
        self.stacktrace = stacktrace
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor

    def serve(self, request):
        try:
            result = next_or_failure(self.name, self.next, request)
        except MalformedQuery:
            raise  # the client's error, not the chain's: the server answers FORMERR
        except Exception as e:
            self.report(request, e)
            return wire.error_reply(request, SERVFAIL)
        if isinstance(result, Deferred):
            result.addErrback(self._failed, request)
        return result

    def _failed(self, failure, request):
        if failure.check(MalformedQuery):
            return failure
        self.report(request, failure.value)
        return wire.error_reply(request, SERVFAIL)

    def report(self, request, error: BaseException) -> None:
        """Log one error with its query (CoreDNS's line: ``2 NAME TYPE: error``), or count it."""
        text = f"{error}" or type(error).__name__
        where = ""
        tb = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
        if tb:
            frame = tb[-1]
            where = f" (at {frame.filename.rsplit('/skydns/', 1)[-1]}:{frame.lineno})"
        line = f"2 {request.qname} {qtype_text(request.qtype)}: {type(error).__name__}: {text}{where}"
        for p in self.patterns:
            if p.regexp.search(line):
                p.count += 1
                if p.timer is None:
                    p.timer = self.reactor.callLater(p.period, self._flush_pattern, p)
                    if p.show_first:
                        log.emit(_LEVELS[p.level], "{line}", line=line, client=request.client[0])
                return
        if self.stacktrace and error.__traceback__ is not None:
            line += "\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))
        log.error("{line}", line=line, client=request.client[0])

    def _flush_pattern(self, p: Pattern) -> None:
        p.timer = None
        if p.count and not (p.show_first and p.count == 1):  # a lone error was logged already
            log.emit(_LEVELS[p.level], "{count} errors like '{regexp}' occurred in last {period}",
                     count=p.count, regexp=p.regexp.pattern, period=_fmt_period(p.period))
            p.count = 0

    def flush(self) -> None:
        """Write out pending counts (on shutdown or reload)."""
        for p in self.patterns:
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
            self._flush_pattern(p)


def _fmt_period(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    return f"{seconds:g}s"
