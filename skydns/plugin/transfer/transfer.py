"""transfer: AXFR and IXFR of the zones of a record source over TCP, and NOTIFY to the secondaries.

A transfer streams (skydns.query.reply.MessageStream): messages of at most ``MESSAGE_SIZE``
bytes made from a snapshot of the zone's records (a shallow copy of the journal's
dict: the records themselves are shared, never copied), written as the secondary
reads them. Signed requests (TSIG) get signed messages; addresses not allowed by
``to`` and transfers beyond ``max_transfers`` at once get REFUSED.
"""
from __future__ import annotations

import ipaddress
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import IHandler, IMetrics
from skydns.plugin.transfer.journal import ZoneJournal
from skydns.query import tsig, wire
from skydns.query.chain import next_or_failure
from skydns.query.rcode import REFUSED
from skydns.query.reply import MessageStream
from skydns.query.zones import in_zones

log = Logger(namespace="skydns.plugin.transfer")
AXFR, IXFR, SOA = 252, 251, 6
#: The largest transfer message (RFC 5936 allows 65535; 16 KiB keeps each one quick to sign and write).
MESSAGE_SIZE = 16384
#: Seconds after a change before NOTIFY goes out, so that a burst of changes sends one.
NOTIFY_DELAY = 1.0
NOTIFY_TRIES = 3
_HEADER = struct.Struct("!HHHHHH").pack


class Permit:
    """The ``to`` of a transfer: addresses and networks allowed, ``*`` for all; notify targets."""

    def __init__(self, entries: list[str]):
        self.any = "*" in entries
        self.networks = []
        self.notify: list[tuple[str, int]] = []
        for e in entries:
            if e == "*":
                continue
            if "/" in e:
                self.networks.append(ipaddress.ip_network(e, strict=False))
                continue
            host, port = _host_port(e)
            self.networks.append(ipaddress.ip_network(host))
            self.notify.append((host, port))

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        return any(ip in n for n in self.networks)


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return str(ipaddress.ip_address(host)), int(rest.lstrip(":") or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return str(ipaddress.ip_address(host)), int(port)
    return str(ipaddress.ip_address(text)), 53


@implementer(IHandler, IMetrics)
class Transfer:
    name = "transfer"

    def __init__(self, zones: dict[str, Permit], sources: dict, keys, clock, client, max_transfers: int,
                 next=None, server: str = ""):
        self.zones = zones  # zone -> Permit
        self.sources = sources  # zone -> IZoneSource
        self.keys = keys  # ITSIGKeys or None
        self.clock = clock  # block.clock: NOTIFY's delay
        self.client = client
        self.max_transfers = max_transfers
        self.next = next
        self.server = server
        self.journals: dict[str, ZoneJournal] = {}
        self.active = 0
        self.counts = {"axfr": 0, "ixfr": 0, "refused": 0, "notify": 0}
        self._notify_timers: dict[str, object] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        for zone, source in self.sources.items():
            self.journals[zone] = ZoneJournal(source, zone, _bind(self._schedule_notify, zone))
            source.subscribe(self._changed)
        return None

    def stop(self):
        for source in self.sources.values():
            source.unsubscribe(self._changed)
        for timer in self._notify_timers.values():
            if timer.active():  # type: ignore[attr-defined]
                timer.cancel()  # type: ignore[attr-defined]
        return None

    def _changed(self, name) -> None:
        for j in self.journals.values():
            j.on_change(name)

    def _journal(self, zone: str):
        """The zone's journal, or a Deferred firing when its first read is done (the journal starts then)."""
        j = self.journals[zone]
        if j.data is None:
            return j.load()
        return j

    # -- queries --------------------------------------------------------------------------------
    def serve(self, request):
        qtype = request.qtype
        if request.flags & wire.OPCODE_MASK:  # an UPDATE on its way to the update plugin: not a transfer's
            return next_or_failure(self.name, self.next, request)
        if qtype not in (AXFR, IXFR):
            if qtype == SOA and self.keys is not None and request.qname in self.zones and request.message.had_tsig:
                return self._signed_soa(request)
            return next_or_failure(self.name, self.next, request)
        zone = request.qname if request.qname in self.zones else None
        if zone is None:
            if in_zones(request.qname, list(self.zones)) is not None:
                return wire.error_reply(request, dns.rcode.NOTAUTH)  # a transfer of a name that is not a zone
            return next_or_failure(self.name, self.next, request)
        signer = None
        if self.keys is not None:
            # The signature first: every reply to a correctly signed request is signed, refusals too
            # (RFC 8945 5.3), so the client reports the refusal and not a signature failure.
            verified = tsig.verify(request, self.keys.keyring)
            if verified.error:
                self.counts["refused"] += 1
                return tsig.error_reply(request, verified)
            if verified.key is not None:
                signer = tsig.Signer(verified, request.id)
            elif self.keys.required(qtype):
                self.counts["refused"] += 1
                return wire.error_reply(request, REFUSED)
        return self._transfer(request, zone, signer)

    def _transfer(self, request, zone: str, signer):
        qtype = request.qtype
        source = self.sources[zone]
        if not self.zones[zone].allows(request.client[0]):
            self.counts["refused"] += 1
            log.info("{zone}: transfer to {client} refused (not in 'to')", zone=zone, client=request.client[0])
            return _refusal(request, REFUSED, signer)
        if not source.synced:
            return _refusal(request, dns.rcode.SERVFAIL, signer)
        journal = self._journal(zone)
        if not isinstance(journal, ZoneJournal):  # being read: answer once it is
            return journal.addCallback(lambda _: self._transfer(request, zone, signer))
        if request.proto == "udp":
            if qtype == AXFR:
                return _refusal(request, dns.rcode.FORMERR, signer)  # AXFR is TCP only (RFC 5936)
            since = _ixfr_serial(request)
            if since is not None and since >= journal.serial:
                return self._single(request, journal, signer)
            return _truncated(request, signer)  # IXFR over UDP: try TCP (RFC 1995 2)
        if self.active >= self.max_transfers:
            self.counts["refused"] += 1
            log.warn("{zone}: {n} transfers running (max_transfers); refused {client}", zone=zone, n=self.active,
                     client=request.client[0])
            return _refusal(request, REFUSED, signer)
        soa = source.soa(zone, journal.serial)  # the journal's version: what the records sent are
        if qtype == IXFR:
            since = _ixfr_serial(request)
            if since is not None:
                if since >= journal.serial:
                    return self._single(request, journal, signer)
                diff = journal.difference(since)
                if diff is not None:
                    removed, added = diff
                    self.counts["ixfr"] += 1
                    log.info("{zone}: IXFR {since} -> {serial} to {client} ({r} removed, {a} added)", zone=zone,
                             since=since, serial=journal.serial, client=request.client[0], r=len(removed),
                             a=len(added))
                    records = [soa, source.soa(zone, since), *removed, soa, *added, soa]
                    return self._stream(request, iter(records), signer)
        self.counts["axfr"] += 1
        snapshot = dict(journal.data or {})
        log.info("{zone}: AXFR at serial {serial} to {client} ({n} names)", zone=zone, serial=journal.serial,
                 client=request.client[0], n=len(snapshot))
        return self._stream(request, _axfr_records(soa, snapshot), signer)

    def _signed_soa(self, request):
        """A secondary's signed SOA query (its refresh check): answered signed, as BIND insists."""
        verified = tsig.verify(request, self.keys.keyring)
        if verified.error:
            return tsig.error_reply(request, verified)
        zone = request.qname
        msg = _message(request, [self.sources[zone].soa(zone)], True)
        return tsig.Signer(verified, request.id).sign(msg, multi=False)

    def _single(self, request, journal, signer):
        """The current SOA alone: the client is up to date."""
        soa = self.sources[journal.zone].soa(journal.zone, journal.serial)
        msg = _message(request, [soa], True)
        return signer.sign(msg, multi=False) if signer is not None else msg

    def _stream(self, request, records, signer) -> MessageStream:
        self.active += 1
        messages = self._messages(request, records, signer)
        first = next(messages)
        return MessageStream(_chain(first, messages), first)

    def _messages(self, request, records, signer):
        try:
            batch: list[bytes] = []
            size = 0
            first = True
            limit = MESSAGE_SIZE - 200  # room for the header, question and TSIG
            for rr in records:
                if batch and size + len(rr) > limit:
                    msg = _message(request, batch, first)
                    yield signer.sign(msg) if signer is not None else msg
                    batch, size, first = [], 0, False
                batch.append(rr)
                size += len(rr)
            msg = _message(request, batch, first)
            yield signer.sign(msg) if signer is not None else msg
        finally:
            self.active -= 1

    # -- NOTIFY ---------------------------------------------------------------------------------
    def _schedule_notify(self, zone: str) -> None:
        if not self.zones[zone].notify:
            return
        timer = self._notify_timers.get(zone)
        if timer is None or not timer.active():  # type: ignore[attr-defined]
            self._notify_timers[zone] = self.clock.callLater(NOTIFY_DELAY, self._notify, zone)

    def _notify(self, zone: str) -> None:
        q = dns.message.make_query(zone, "SOA")
        q.flags = dns.flags.AA  # (RD cleared) before the opcode, which lives in the same header bits
        q.set_opcode(dns.opcode.NOTIFY)
        if self.keys is not None and self.keys.keyring:
            # Signed with the block's first key: secondaries that take transfers with a key take NOTIFYs with it
            key = next(iter(self.keys.keyring.keys.values()))
            q.use_tsig(key)
        data = q.to_wire()
        serial = self.sources[zone].serial(zone)
        for host, port in self.zones[zone].notify:
            self.counts["notify"] += 1
            self._send_notify(data, zone, host, port, serial, 1)

    def _send_notify(self, data, zone, host, port, serial, attempt) -> None:
        d = self.client.query(data, host, port, "udp", 2.0)

        def failed(f):
            if attempt < NOTIFY_TRIES:
                self._send_notify(data, zone, host, port, serial, attempt + 1)
            else:
                log.warn("{zone}: NOTIFY of serial {serial} to {host}:{port} not answered ({why})", zone=zone,
                         serial=serial, host=host, port=port, why=f.getErrorMessage())

        d.addCallbacks(lambda _: log.debug("{zone}: {host} acknowledged NOTIFY", zone=zone, host=host), failed)

    # -- IMetrics -------------------------------------------------------------------------------
    def collect(self, prefix: str):
        c = CounterMetricFamily(prefix + "transfer_requests", "Transfers and NOTIFYs, by kind.",
                                labels=["server", "kind"])
        for kind, n in self.counts.items():
            c.add_metric([self.server, kind], n)
        g = GaugeMetricFamily(prefix + "transfer_active", "Transfers being sent.", labels=["server"])
        g.add_metric([self.server], self.active)
        return (c, g)


def _chain(first, rest):
    yield first
    yield from rest


def _axfr_records(soa: bytes, snapshot: dict):
    yield soa
    for rrs in snapshot.values():
        yield from rrs
    yield soa


def _message(request, records: list[bytes], with_question: bool) -> bytes:
    flags = wire.QR | wire.AA | (request.flags & wire.RD)
    header = _HEADER(request.id, flags, 1 if with_question else 0, len(records), 0, 0)
    return header + (request.question_wire if with_question else b"") + b"".join(records)


def _truncated(request, signer=None) -> bytes:
    flags = wire.QR | wire.AA | wire.TC | (request.flags & wire.RD)
    msg = _HEADER(request.id, flags, 1, 0, 0, 0) + request.question_wire
    return signer.sign(msg, multi=False) if signer is not None else msg


def _refusal(request, rcode: int, signer) -> bytes:
    """An error reply, signed when the request was (RFC 8945 5.3)."""
    if signer is None:
        return wire.error_reply(request, rcode)
    flags = wire.reply_flags(request.flags, rcode)
    return signer.sign(_HEADER(request.id, flags, 1, 0, 0, 0) + request.question_wire, multi=False)


def _ixfr_serial(request) -> int | None:
    """The serial of the SOA in an IXFR query's authority section (the client's version)."""
    msg = request.message
    for rrset in msg.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return rrset[0].serial
    return None


def _bind(fn, zone: str):
    return lambda: fn(zone)
