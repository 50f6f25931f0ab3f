"""update: dynamic updates (RFC 2136) into the zone's store, authenticated by TSIG, within each key's policy.

An UPDATE is judged whole before anything is written: its zone must be ours
(NOTAUTH), it must be signed by a key of the block's ``tsig`` (unsigned: REFUSED; a
bad signature: NOTAUTH), every name and type it changes must be in that key's policy
and among the types stored (REFUSED), names outside the zone are NOTZONE. Then its
prerequisites are checked against the records as the store has them (NXDOMAIN,
YXDOMAIN, NXRRSET, YXRRSET, nothing written), the changes are made, and committed in
one transaction that fails if those names changed since they were read; the update is
then read and judged again (three times at most, then SERVFAIL).
"""
from __future__ import annotations

import struct

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.update
from prometheus_client.core import CounterMetricFamily
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from skydns.clients.etcd.connection import Refused as EtcdRefused
from skydns.interfaces import IMetrics, IUpdater
from skydns.msg.records import TooLarge
from skydns.query import tsig, wire
from skydns.query.chain import next_or_failure

log = Logger(namespace="skydns.plugin.update")
T = dns.rdatatype.RdataType
TYPES = ("A", "AAAA", "SRV", "TXT", "CNAME", "MX", "PTR")
ANY, NONE, IN = dns.rdataclass.ANY, dns.rdataclass.NONE, dns.rdataclass.IN
TRIES = 3
_HEADER = struct.Struct("!HHHHHH").pack


#: The most records one UPDATE may add or delete (each is a key written in one etcd transaction, which
#: takes at most 128 operations).
MAX_UPDATE_RECORDS = 64
#: Names below ``dns.<zone>`` are the zone's own (its NS set, the apex's addresses, stub zones): never updated.
RESERVED = "dns"


class Policy:
    """What one key may change: names at or below ``names``, records of ``types``."""

    def __init__(self, key: str, names: list[str], types: set[int]):
        self.key = dns.name.from_text(key)
        self.names = [dns.name.from_text(n) for n in names]
        self.types = types

    def allows(self, name: dns.name.Name, rdtype: int) -> bool:
        """May the key change ``rdtype`` records at ``name``? For type ANY (delete every RRset at a
        name) the name is checked here, the types found there when the records are read (:meth:`may_delete`)."""
        if rdtype not in (ANY, 255) and rdtype not in self.types:
            return False
        return any(name.is_subdomain(n) for n in self.names)

    def may_delete(self, present: set[int]) -> bool:
        """May the key delete every RRset at a name holding these types (a delete of type ANY)?"""
        return present <= self.types


class Refused(Exception):
    def __init__(self, rcode: int, why: str):
        super().__init__(why)
        self.rcode = rcode


@implementer(IUpdater, IMetrics)
class Update:
    name = "update"

    def __init__(self, zones: list[str], policies: dict, editors: dict, keys_of, server: str = "", next=None,
                 replays: tsig.Replays | None = None):
        self.next = next
        self.replays = replays if replays is not None else tsig.Replays()  # signed updates seen, against replays
        self.zones = zones
        self.policies = policies  # key name (dns.name.Name) -> Policy
        self.editors = editors  # zone -> IZoneEditor
        self.keys_of = keys_of  # () -> ITSIGKeys or None
        self.server = server
        self.counts = {"applied": 0, "prerequisite": 0, "refused": 0, "notauth": 0}

    def serve(self, request):
        """UPDATE messages are answered here; everything else goes on down the chain."""
        if request.flags & wire.OPCODE_MASK == wire.OPCODE_UPDATE:
            return self.update(request)
        return next_or_failure(self.name, self.next, request)

    def update(self, request):
        zone = request.qname
        if zone not in self.zones:
            self.counts["notauth"] += 1
            return _reply(request, dns.rcode.NOTAUTH)
        msg = request.message
        if not isinstance(msg, dns.update.UpdateMessage) or len(msg.zone) != 1 or msg.zone[0].rdtype != T.SOA:
            return _reply(request, dns.rcode.FORMERR)
        keys = self.keys_of()
        if keys is None:
            self.counts["refused"] += 1
            return _reply(request, dns.rcode.REFUSED)
        verified = tsig.verify(request, keys.keyring, self.replays)
        if verified.error:
            self.counts["notauth"] += 1
            log.info("update of {zone} from {client}: bad TSIG (error {error})", zone=zone, client=request.client[0],
                     error=verified.error)
            return tsig.error_reply(request, verified)
        signer = tsig.Signer(verified, request.id) if verified.key is not None else None
        if verified.key is None:
            self.counts["refused"] += 1
            return _reply(request, dns.rcode.REFUSED)
        policy = self.policies.get(verified.key.name)
        msg = verified.message
        origin = dns.name.from_text(zone)
        try:
            names = self._check(msg, origin, policy)
        except Refused as e:
            self.counts["refused" if e.rcode == dns.rcode.REFUSED else "notauth"] += 1
            log.info("update of {zone} by {key} refused: {why}", zone=zone, key=verified.key.name, why=e)
            return _reply(request, e.rcode, signer)
        d = self._apply(self.editors[zone], zone, msg, names, TRIES, policy)
        d.addCallback(self._done, request, signer, zone, verified.key.name)
        return d

    def _check(self, msg, origin, policy) -> list[str]:
        """RFC 2136 3.2 and 3.4.1 before anything is read: zone, classes, types, the key's policy."""
        names: dict[str, None] = {}
        for rrset in msg.prerequisite:
            if not rrset.name.is_subdomain(origin):
                raise Refused(dns.rcode.NOTZONE, f"prerequisite {rrset.name} is outside the zone")
            if _class(rrset) not in (ANY, NONE, IN) or (_class(rrset) != IN and rrset.ttl != 0):
                raise Refused(dns.rcode.FORMERR, "bad prerequisite")
            names[rrset.name.to_text().lower()] = None
        if policy is None:
            raise Refused(dns.rcode.REFUSED, "the key has no update policy")
        if sum(max(len(rrset), 1) for rrset in msg.update) > MAX_UPDATE_RECORDS:
            raise Refused(dns.rcode.REFUSED, f"more than {MAX_UPDATE_RECORDS} records in one update")
        reserved = dns.name.Name((dns.name.Name([RESERVED.encode()]).labels[0],) + origin.labels)
        for rrset in msg.update:
            if not rrset.name.is_subdomain(origin):
                raise Refused(dns.rcode.NOTZONE, f"{rrset.name} is outside the zone")
            if rrset.name == origin:
                raise Refused(dns.rcode.REFUSED, "the zone apex (SOA, NS) is not changed by updates")
            if rrset.name.is_subdomain(reserved):
                raise Refused(dns.rcode.REFUSED, f"{rrset.name} is the zone's own (its NS set, the apex's "
                                                 "addresses): not changed by updates")
            rdtype = rrset.rdtype
            if _class(rrset) == IN and rdtype not in policy.types:
                raise Refused(dns.rcode.REFUSED, f"type {dns.rdatatype.to_text(rdtype)} is not allowed")
            if _class(rrset) not in (IN, ANY, NONE):
                raise Refused(dns.rcode.FORMERR, "bad update class")
            if not policy.allows(rrset.name, rdtype):
                raise Refused(dns.rcode.REFUSED, f"{rrset.name} {dns.rdatatype.to_text(rdtype)} is outside "
                                                 f"the policy of key {policy.key}")
            names[rrset.name.to_text().lower()] = None
        return list(names)

    @defer.inlineCallbacks
    def _apply(self, editor, zone: str, msg, names: list[str], tries: int, policy):
        for _ in range(tries):
            edit = yield editor.edit(zone, names)
            rcode = _prerequisites(edit, msg)
            if rcode:
                return rcode, False
            for rrset in msg.update:
                name = rrset.name.to_text().lower()
                if _class(rrset) == ANY and rrset.rdtype == 255:
                    owner_len = len(rrset.name.canonicalize().to_wire() or b"")
                    present = {_split(rr, owner_len)[0] for rr in edit.rrs(name)}
                    if not policy.may_delete(present):
                        log.info("update of {zone} by {key} refused: deleting {name} would delete types it may "
                                 "not change", zone=zone, key=policy.key, name=name)
                        return dns.rcode.REFUSED, False
            for rrset in msg.update:
                name = rrset.name.to_text().lower()
                if _class(rrset) == IN:
                    for rd in rrset:
                        edit.add(name, rd, rrset.ttl)
                elif _class(rrset) == ANY:
                    if rrset.rdtype == 255:
                        edit.delete_name(name)
                    else:
                        edit.delete_rrset(name, rrset.rdtype)
                else:  # NONE: one record
                    for rd in rrset:
                        edit.delete_rr(name, rd)
            try:
                written = yield edit.commit(f"tsig:{str(policy.key).rstrip('.')}")
            except TooLarge as e:
                log.info("update of {zone} refused: {why}", zone=zone, why=e)
                return dns.rcode.REFUSED, False
            except EtcdRefused as e:  # etcd roles: one line saying what to grant, no traceback
                log.warn("update of {zone} by {key} not written: {why}", zone=zone, key=policy.key, why=e)
                return dns.rcode.SERVFAIL, False
            if written:
                return dns.rcode.NOERROR, True
        return dns.rcode.SERVFAIL, False

    def _done(self, result, request, signer, zone, key):
        rcode, written = result
        if written:
            self.counts["applied"] += 1
            log.info("update of {zone} by {key} from {client} applied", zone=zone, key=key, client=request.client[0])
        elif rcode == dns.rcode.REFUSED:
            self.counts["refused"] += 1
        elif rcode != dns.rcode.NOERROR:
            self.counts["prerequisite"] += 1
            log.info("update of {zone} by {key}: {rcode}, nothing written", zone=zone, key=key,
                     rcode=dns.rcode.to_text(rcode))
        return _reply(request, rcode, signer)

    def collect(self, prefix: str):
        c = CounterMetricFamily(prefix + "update_requests", "Dynamic updates, by outcome.", labels=["server", "result"])
        for result, n in self.counts.items():
            c.add_metric([self.server, result], n)
        return (c,)


def _class(rrset) -> int:
    """The class as on the wire: dnspython reads ANY and NONE (deletions, prerequisites) into ``deleting``."""
    return rrset.deleting if rrset.deleting is not None else rrset.rdclass


def _split(rr: bytes, owner_len: int) -> tuple[int, bytes]:
    """(type, rdata) of a wire RR whose owner is ``owner_len`` bytes."""
    rdtype = rr[owner_len] << 8 | rr[owner_len + 1]
    return rdtype, rr[owner_len + 10:]


def _prerequisites(edit, msg) -> int:
    """RFC 2136 3.2.5: the first failed prerequisite's rcode, or 0."""
    required: dict[tuple[str, int], set[bytes]] = {}
    for rrset in msg.prerequisite:
        name = rrset.name.to_text().lower()
        owner_len = len(rrset.name.canonicalize().to_wire() or b"")
        records = [_split(rr, owner_len) for rr in edit.rrs(name)]
        types = {t for t, _ in records}
        if _class(rrset) == ANY:
            if rrset.rdtype == 255:
                if not records:
                    return dns.rcode.NXDOMAIN
            elif rrset.rdtype not in types:
                return dns.rcode.NXRRSET
        elif _class(rrset) == NONE:
            if rrset.rdtype == 255:
                if records:
                    return dns.rcode.YXDOMAIN
            elif rrset.rdtype in types:
                return dns.rcode.YXRRSET
        else:  # value dependent: exactly these records
            want = required.setdefault((name, rrset.rdtype), set())
            want.update(rd.to_digestable() for rd in rrset)
    for (name, rdtype), want in required.items():
        owner_len = len(dns.name.from_text(name).canonicalize().to_wire() or b"")
        have = {data for t, data in (_split(rr, owner_len) for rr in edit.rrs(name)) if t == rdtype}
        if have != want:
            return dns.rcode.NXRRSET
    return 0


def _reply(request, rcode: int, signer=None) -> bytes:
    flags = wire.QR | (request.flags & wire.OPCODE_MASK) | (rcode & 0xF)
    data = _HEADER(request.id, flags, 1, 0, 0, 0) + request.question_wire
    return signer.sign(data, multi=False) if signer is not None else data
