"""What the console's pages show, as JSON: read from the public capabilities of the running configuration.

Nothing here knows the etcd plugin: the tree comes from an :class:`IRecordTree`,
answers from the server itself (:class:`skydns.query.upstream.Upstream`, as a
client would get them), health from an :class:`IMonitoredSource`, the instance from
:class:`IReadiness` and :class:`IStatus` providers and the server's blocks.
Everything the reactor thread computes is bounded by a page (``limit``); what
blocks (the stored records, the history) runs in a thread, in the resource.
"""
from __future__ import annotations

import os
import socket

import dns.rcode
import dns.rdatatype
from twisted.internet import defer

import skydns
from skydns.interfaces import IMonitoredSource, IReadiness, IRecordTree, IStatus, IZoneSource
from skydns.msg.records import LEAF
from skydns.query.upstream import Upstream, UpstreamError
from skydns.query.zones import in_zones

#: The types the name page asks the server for.
ASKED = ("A", "AAAA", "SRV", "TXT", "MX", "PTR")
MAX_LIMIT = 500


class BadRequest(ValueError):
    """A query parameter out of bounds: 400 with this text."""


def page_args(args: dict, default: int = 100) -> tuple[int, int]:
    try:
        offset = int(args.get("offset", "0"))
        limit = int(args.get("limit", str(default)))
    except ValueError:
        raise BadRequest("offset and limit are numbers") from None
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"offset is at least 0, limit from 1 to {MAX_LIMIT}")
    return offset, limit


def _name(text: str) -> str:
    text = (text or "").strip().lower()
    if not text or len(text) > 255:
        raise BadRequest("a name is needed (at most 255 characters)")
    return text if text.endswith(".") else text + "."


def _address_order(item):
    ip = item[0]
    try:
        return (0, socket.inet_pton(socket.AF_INET, ip), "")
    except OSError:
        pass
    try:
        return (1, socket.inet_pton(socket.AF_INET6, ip), "")
    except OSError:
        return (2, b"", ip)


class Views:
    def __init__(self, source, block, traffic):
        self.source = source
        self.block = block
        self.traffic = traffic
        self.upstream = Upstream(block)
        # Made on demand, kept while the zones' serials say the records did not change (a health
        # status changing is no change of records: the statuses are read afresh for every page).
        self._names: tuple[tuple, list[str]] | None = None  # every name, for search
        self._hosts: tuple[tuple, tuple[list, dict]] | None = None  # the monitored addresses, with their names

    def _serials(self) -> tuple:
        if not IZoneSource.providedBy(self.source):
            return (object(),)  # never the same: made again every time
        return tuple(self.source.serial(z) for z in self.source.zones)

    # -- names ---------------------------------------------------------------------------------
    def zones(self) -> dict:
        return {"zones": list(self.source.zones), "browse": IRecordTree.providedBy(self.source),
                "search": IZoneSource.providedBy(self.source), "health": IMonitoredSource.providedBy(self.source)}

    def children(self, args: dict) -> dict:
        name = _name(args.get("name", ""))
        if in_zones(name, list(self.source.zones)) is None:
            raise BadRequest(f"{name} is outside the served zones")
        if not IRecordTree.providedBy(self.source):
            raise BadRequest("this record source cannot be browsed")
        offset, limit = page_args(args)
        kids = self.source.children(name)
        rows = [{"label": label, "name": f"{label}.{name}" if name != "." else label + ".", "record": rec,
                 "below": more} for label, rec, more in kids[offset:offset + limit]]
        return {"name": name, "total": len(kids), "offset": offset, "children": rows}

    def all_names(self) -> list[str]:
        serials = self._serials()
        if self._names is None or self._names[0] != serials:
            names: list[str] = []
            for zone in self.source.zones:
                names.extend(self.source.names(zone))
            self._names = (serials, list(dict.fromkeys(names)))
        return self._names[1]

    def search(self, args: dict) -> dict:
        text = (args.get("q") or "").strip().lower()
        if not 1 <= len(text) <= 255:
            raise BadRequest("search for 1 to 255 characters")
        if not IZoneSource.providedBy(self.source):
            raise BadRequest("this record source cannot be searched")
        offset, limit = page_args(args)
        found = [n for n in self.all_names() if text in n]
        return {"q": text, "total": len(found), "offset": offset, "names": found[offset:offset + limit]}

    def answers(self, name: str):
        """A Deferred ``[{"type", "rcode", "answer": [text]}]``: what the server answers for ``name``."""
        name = _name(name)
        asked = [t for t in ASKED if t != "PTR" or name.endswith((".in-addr.arpa.", ".ip6.arpa."))]

        def one(rdtype):
            try:
                return defer.maybeDeferred(self.upstream.lookup, name, dns.rdatatype.from_text(rdtype))
            except UpstreamError as e:
                return defer.fail(e)

        def shown(results):
            out = []
            for rdtype, (ok, msg) in zip(asked, results, strict=True):
                if not ok:
                    out.append({"type": rdtype, "rcode": "no answer", "answer": []})
                    continue
                lines = [line for rrset in msg.answer for line in rrset.to_text().splitlines()]
                out.append({"type": rdtype, "rcode": dns.rcode.to_text(msg.rcode()), "answer": lines})
            return out
        return defer.DeferredList([one(t) for t in asked], consumeErrors=True).addCallback(shown)

    # -- health -------------------------------------------------------------------------------------
    def _grouped_hosts(self) -> tuple[list, dict]:
        """``([(address, [names])] in address order, {address: [names]})``."""
        serials = self._serials()
        if self._hosts is None or self._hosts[0] != serials:
            by_ip: dict[str, list[str]] = {}
            start = len(self.source.prefix) + 1
            for key, service in self.source.hosts():
                labels = key[start:].split("/")  # a key of the copy: already checked when it was read
                if len(labels) > 1 and LEAF.match(labels[-1]):  # NAME/x1: a record of NAME
                    labels.pop()
                labels.reverse()
                by_ip.setdefault(service.host, []).append(".".join(labels) + ".")
            self._hosts = (serials, (sorted(by_ip.items(), key=_address_order), by_ip))
        return self._hosts[1]

    def health(self, args: dict) -> dict:
        if not IMonitoredSource.providedBy(self.source):
            return {"monitored": False, "total": 0, "rows": [], "down": 0, "scanners": []}
        offset, limit = page_args(args)
        text = (args.get("q") or "").strip().lower()[:255]
        statuses = self.source.statuses()
        down = self.source.down()
        ordered, by_ip = self._grouped_hosts()
        if args.get("down") == "1":  # few: from the DOWN set, not from every address
            rows = sorted(((ip, by_ip[ip]) for ip in down if ip in by_ip), key=_address_order)
        else:
            rows = ordered
        if text:
            rows = [(ip, names) for ip, names in rows if text in ip or any(text in n for n in names)]
        page = []
        for ip, names in rows[offset:offset + limit]:
            st = statuses.get(ip)
            page.append({"ip": ip, "names": names[:5], "more": max(0, len(names) - 5),
                         "status": st["status"] if st else "UNKNOWN", "since": st["since"] if st else None,
                         "by": st["by"] if st else None})
        return {"monitored": True, "total": len(rows), "offset": offset, "rows": page, "down": len(down),
                "scanners": sorted(self.source.members())}

    # -- the instance -------------------------------------------------------------------------------
    def instance(self) -> dict:
        service = self.block.service
        out: dict = {"version": skydns.__version__, "pid": os.getpid(), "started": int(self.traffic.started),
                     "reloads": getattr(service, "reloads", 0),
                     "reload_failures": getattr(service, "reload_failures", 0),
                     "readiness": [], "states": [], "blocks": []}
        if service is None:
            return out
        for _block, provider in service.find(IReadiness):
            why = provider.ready()
            out["readiness"].append({"plugin": provider.name, "ready": why is None, "why": why})
        for _block, provider in service.find(IStatus):
            out["states"].append({"name": provider.name, "items": [[str(k), v] for k, v in provider.status()]})
        for b in service.blocks():
            out["blocks"].append({"name": b.name, "zones": list(b.zones), "ports": list(b.ports),
                                  "plugins": list(b.plugins)})
        return out
