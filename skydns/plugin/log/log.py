"""log: one line per query, in CoreDNS's format, through twisted.logger.

The line is written once the reply has been sent (the server calls back with
the bytes it sent), so size, rcode and flags are exactly what the client got,
truncation included, and nothing is rendered twice. Lines go to
``twisted.logger`` (namespace ``skydns.plugin.log``), so twistd's ``--logfile``
and its log rotation apply.

A twisted.logger event costs about 20 us, more than answering a query. So
under load lines are gathered and written as one event at most every
``FLUSH`` seconds (twistd's text log shows the lines after the first of a
batch indented by a tab); when queries are sparse each line is its own event.
"""
from __future__ import annotations

from dataclasses import dataclass
from time import monotonic
from typing import Callable

from twisted.logger import Logger
from zope.interface import implementer

from skydns.chain import next_or_failure
from skydns.interfaces import IHandler
from skydns.plugin.etcd.lookup import in_zones

log = Logger(namespace="skydns.plugin.log")

#: Longest a line waits in a batch, in seconds.
FLUSH = 0.1
#: A batch is written at once when it reaches this many lines.
BATCH = 512


@dataclass(frozen=True)
class Rule:
    names: list[str]
    classes: frozenset
    render: Callable


def classify(reply: bytes) -> str:
    """CoreDNS's response classes: success, denial (NXDOMAIN or NODATA), error (the rest)."""
    rcode = reply[3] & 0x0F
    if rcode == 0:
        return "success" if (reply[6] or reply[7]) else "denial"
    if rcode == 3:
        return "denial"
    return "error"


@implementer(IHandler)
class Log:
    name = "log"

    def __init__(self, rules: list[Rule], next=None, reactor=None):
        self.rules = rules
        self.next = next
        self.everything = len(rules) == 1 and rules[0].names == ["."]
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.pending: list[str] = []
        self.flusher = None
        self.last_write = 0.0

    def serve(self, request):
        if self.everything or any(in_zones(request.qname, r.names) for r in self.rules):
            request.observe(self._write)
        return next_or_failure(self.name, self.next, request)

    def _write(self, request, reply: bytes) -> None:
        now = monotonic()
        cls = classify(reply)
        for rule in self.rules:
            if cls in rule.classes and (rule.names == ["."] or in_zones(request.qname, rule.names)):
                line = rule.render(request, reply, now)
                if self.flusher is None and now - self.last_write > FLUSH:
                    self.last_write = now
                    log.info("{line}", line=line)  # sparse traffic: one event per line
                    return
                self.pending.append(line)
                if len(self.pending) >= BATCH:
                    self.flush()
                elif self.flusher is None:
                    self.flusher = self.reactor.callLater(FLUSH, self.flush)
                return

    def flush(self) -> None:
        """Write the gathered lines as one event (also on shutdown)."""
        if self.flusher is not None and self.flusher.active():
            self.flusher.cancel()
        self.flusher = None
        if self.pending:
            lines, self.pending = self.pending, []
            self.last_write = monotonic()
            log.info("{line}", line="\n".join(lines))
