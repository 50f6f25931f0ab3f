"""log: one line per query, in CoreDNS's format, through twisted.logger.

The line is written once the reply has been sent: the plugin observes its
block's replies (the server calls it with the bytes it sent, see
``Block.observe``), so size, rcode and flags are exactly what the client got,
truncation included, nothing is rendered twice, and the plugin is not a step
of the chain. Lines go to
``twisted.logger`` (namespace ``skydns.plugin.log``), so twistd's ``--logfile``
and its log rotation apply.

A twisted.logger event costs about 20 us, more than answering a query. So
under load lines are gathered and written as one event at most every
``FLUSH`` seconds (twistd's text log shows the lines after the first of a
batch indented by a tab); when queries are sparse each line is its own event.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic

from twisted.logger import Logger

from skydns.query.rcode import NOERROR, NXDOMAIN
from skydns.query.zones import in_zones

log = Logger(namespace="skydns.plugin.log")

#: Longest a line waits in a batch, in seconds.
FLUSH = 0.1
#: A batch is written at once when it reaches this many lines.
BATCH = 512
#: CoreDNS's response classes.
ALL_CLASSES = frozenset(("success", "denial", "error"))


@dataclass(frozen=True)
class Rule:
    names: list[str]
    classes: frozenset
    render: Callable
    everywhere: bool = field(init=False)  # names is just the root: no zone test per line

    def __post_init__(self):
        object.__setattr__(self, "everywhere", self.names == ["."])


def classify(reply: bytes) -> str:
    """CoreDNS's response classes: success, denial (NXDOMAIN or NODATA), error (the rest)."""
    rcode = reply[3] & 0x0F
    if rcode == NOERROR:
        return "success" if (reply[6] or reply[7]) else "denial"
    if rcode == NXDOMAIN:
        return "denial"
    return "error"


class QueryLog:
    """Writes a line for each reply its block sends (a block observer, not a link of the chain)."""

    name = "log"

    def __init__(self, rules: list[Rule], reactor=None):
        self.rules = rules
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.pending: list[str] = []
        self.flusher = None
        self.last_write = 0.0

    def observer(self):
        """The function the server calls with each reply: :meth:`observe`, or with one rule
        for every name and class (the usual ``log``), a shorter path that tests nothing."""
        rules = self.rules
        if len(rules) == 1 and rules[0].everywhere and rules[0].classes == ALL_CLASSES:
            render = rules[0].render
            return lambda request, reply: self._add(render(request, reply, monotonic()))
        return self.observe

    def observe(self, request, reply: bytes) -> None:
        """Called by the server with the bytes it sent."""
        cls = classify(reply)
        for rule in self.rules:
            if cls in rule.classes and (rule.everywhere or in_zones(request.qname, rule.names)):
                self._add(rule.render(request, reply, monotonic()))
                return

    def _add(self, line: str) -> None:
        if self.flusher is None:
            now = monotonic()
            if now - self.last_write > FLUSH:
                self.last_write = now
                log.info("{line}", line=line)  # sparse traffic: one event per line
                return
            self.flusher = self.reactor.callLater(FLUSH, self.flush)
        self.pending.append(line)
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the gathered lines as one event (also on shutdown)."""
        if self.flusher is not None and self.flusher.active():
            self.flusher.cancel()
        self.flusher = None
        if self.pending:
            lines, self.pending = self.pending, []
            self.last_write = monotonic()
            log.info("{line}", line="\n".join(lines))
