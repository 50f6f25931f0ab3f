"""The last hour of traffic, in memory: queries per zone and per rcode, and latency percentiles, every ten seconds.

Each block of the console's configuration hands every reply to :meth:`Traffic.observer`
(a block observer, as the prometheus plugin's): a few dict and list operations per
query. Every ``STEP`` seconds the counts of the step become one point of the series
and start again at zero; ``KEEP`` points are kept (an hour), so the memory is bounded
by the zones served (at most ``MAX_ZONES``, the rest counted as "other") and does not
grow with time or traffic. The object is shared across reloads: a reload keeps the hour.
"""
from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from time import monotonic as _now

from twisted.internet import task

STEP = 10.0
KEEP = 360
MAX_ZONES = 64
#: Latency buckets (seconds): 25 us growing by a quarter each, up to about 25 s.
BUCKETS = tuple(0.000025 * 1.25 ** i for i in range(62))
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 9: "NOTAUTH"}


#: A zone's counts in one list (one index per query for each): 16 rcodes, then the latency buckets.
LATENCY = 16


def _counts() -> list[int]:
    return [0] * (LATENCY + len(BUCKETS) + 1)


def percentile(latency: list[int], total: int, q: float) -> float | None:
    """The upper bound of the bucket holding the ``q`` quantile (seconds), None without queries."""
    if not total:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(latency):
        seen += n
        if seen >= rank:
            return BUCKETS[min(i, len(BUCKETS) - 1)]
    return BUCKETS[-1]


class Traffic:
    def __init__(self):
        self.started = time.time()
        self.points: deque[dict] = deque(maxlen=KEEP)
        self._counts: dict[str, list[int]] = {}
        self._loop: task.LoopingCall | None = None

    def start(self, clock) -> None:
        if self._loop is None:
            self._loop = task.LoopingCall(self.roll)
            self._loop.clock = clock
            self._loop.start(STEP, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def observer(self):
        """The function that counts one reply (``block.observe``)."""
        counts = self._counts

        def observe(req, reply: bytes, _now=_now, _bisect=bisect_left, _buckets=BUCKETS,
                    _first=BUCKETS[0], _latency=LATENCY) -> None:
            c = counts.get(req.zone)
            if c is None:  # a new zone; beyond MAX_ZONES, counted as "other" (and not kept by name)
                if len(counts) < MAX_ZONES:
                    c = counts[req.zone] = _counts()
                else:
                    c = counts.get("other") or counts.setdefault("other", _counts())
            c[reply[3] & 0x0F] += 1
            d = _now() - req.started
            c[_latency if d <= _first else _latency + _bisect(_buckets, d)] += 1
        return observe

    def roll(self) -> None:
        """Close the step: its counts become a point, and counting starts again."""
        zones = {}
        for zone, c in list(self._counts.items()):
            queries = sum(c[:LATENCY])
            if not queries:
                continue
            latency = c[LATENCY:]
            zones[zone or "."] = {
                "queries": queries,
                "rcodes": {RCODES.get(r, str(r)): n for r, n in enumerate(c[:LATENCY]) if n},
                "p50": percentile(latency, queries, 0.5),
                "p90": percentile(latency, queries, 0.9),
                "p99": percentile(latency, queries, 0.99),
            }
            c[:] = [0] * len(c)
        self.points.append({"at": int(time.time()), "zones": zones})

    def series(self) -> dict:
        return {"step": STEP, "keep": KEEP, "points": list(self.points)}
