"""A zone as the dnssec plugin signs it whole: what a transfer carries to the secondaries.

The record source's zone (:class:`skydns.interfaces.IZoneSource`, etcd's) with, at the apex,
the DNSKEY and NSEC3PARAM sets and an RRSIG over the SOA; an RRSIG over every RRset; and the
NSEC3 chain (:mod:`.chain`) of every name, empty non-terminals included. A secondary serves
it as it is, and a validating resolver behind the secondary validates it.

**Signatures by generation**: signatures are made for a generation of ``GENERATION``
seconds (three days): inception an hour before it starts, expiration ``LIFETIME``
generations after (at least twelve days left). A signature is made once per RRset content
and generation, so the same zone read twice is the same bytes and a change re-signs only
what changed (IXFR carries those signatures). When a generation starts, the zone is signed
again and its SOA serial goes up by one: the serial served is the records' serial plus the
generation (:class:`skydns.interfaces.ISerialEdit`, applied by the record source to every
SOA it makes, so queries and transfers agree), and secondaries take the new signatures
long before the old ones expire.
"""
from __future__ import annotations

import struct
import time
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.util
import dns.rrset
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import ISerialEdit, IZoneSource
from skydns.plugin.dnssec.chain import Chain

log = Logger(namespace="skydns.plugin.dnssec")
IN = dns.rdataclass.IN
T = dns.rdatatype.RdataType
GENERATION = 3 * 24 * 3600
LIFETIME = 5  # generations a signature is valid for, from the start of its own
INCEPTION_BACK = 3600
_TAIL = struct.Struct("!HHIH")


def _rrsets(rrs) -> list[tuple[bytes, dns.rrset.RRset]]:
    """Wire RRs (uncompressed) grouped into RRsets: ``(owner wire, rrset)`` in first-seen order."""
    groups: dict[tuple[bytes, int], tuple[bytes, dns.rrset.RRset]] = {}
    for rr in rrs:
        name, at = dns.name.from_wire(rr, 0)
        owner = rr[:at]
        rdtype, rdclass, ttl, rdlen = _TAIL.unpack_from(rr, at)
        rd = dns.rdata.from_wire(rdclass, rdtype, rr, at + 10, rdlen)
        entry = groups.get((owner, rdtype))
        if entry is None:
            entry = groups[(owner, rdtype)] = (owner, dns.rrset.RRset(name, rdclass, rdtype))
        entry[1].add(rd, ttl)
    return list(groups.values())


def _wire(owner: bytes, rrset: dns.rrset.RRset) -> list[bytes]:
    out = []
    for rd in rrset:
        data = rd.to_wire()
        out.append(owner + _TAIL.pack(rrset.rdtype, IN, rrset.ttl, len(data)) + data)
    return out


def generation_of(now: float) -> int:
    return int(now // GENERATION)


@implementer(IZoneSource, ISerialEdit)
class SignedZone:
    """The signed form of ``source``'s zones that ``signers`` (zone -> Signer) cover."""

    def __init__(self, source, signers: dict, wallclock=time.time):
        self.source = source
        self.signers = {z: s for z, s in signers.items() if z in source.zones}
        self.zones = list(self.signers)
        self.wallclock = wallclock
        self.generation = generation_of(wallclock())
        self.chains: dict[str, Chain] = {}
        self._building: dict[str, set] = {}  # zone -> names changed while its chain is being built
        #: (zone, owner) -> {type: (what was signed, RRSIG RRs)}: the signatures of the RRsets there now
        self._sigs: dict[tuple[str, str], dict] = {}
        self.listeners: list = []
        self._timer = None
        self.clock: Any = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, clock) -> None:
        """Sign again at every generation's start (``clock``: the block's, for the timer)."""
        self.clock = clock
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.listeners:
            self.source.unsubscribe(self._changed)
            self.listeners = []

    def _schedule(self) -> None:
        now = self.wallclock()
        delay = (generation_of(now) + 1) * GENERATION - now + 1
        self._timer = self.clock.callLater(delay, self.renew)

    def renew(self) -> None:
        """A new generation: every signature made again, the serial one up, secondaries told."""
        gen = generation_of(self.wallclock())
        if gen != self.generation:
            self.generation = gen
            self._sigs.clear()
            log.info("dnssec: signing {zones} again for generation {gen}", zones=" ".join(self.zones), gen=gen)
            for fn in list(self.listeners):
                fn(None)
        if self.clock is not None:
            self._schedule()

    def times(self) -> tuple[int, int]:
        start = self.generation * GENERATION
        return start - INCEPTION_BACK, start + LIFETIME * GENERATION

    # -- ISerialEdit ----------------------------------------------------------------------------
    def edit(self, zone: str, serial: int) -> int:
        return (serial + self.generation) & 0xFFFFFFFF

    # -- IZoneSource ----------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self.source.synced

    def serial(self, zone: str) -> int:
        return self.source.serial(zone)  # already edited (the source applies ISerialEdit)

    def soa(self, zone: str, serial: int | None = None) -> bytes:
        return self.source.soa(zone, serial)

    def names(self, zone: str):
        """The source's names, then the chain's hashed owners (the chain is built on the way)."""
        chain = Chain(zone)
        self._building[zone] = set()
        try:
            for name in self.source.names(zone):
                if name != zone:
                    chain.mark(name, bool(self.source.rrs(zone, name)))
                yield name
            for name in self._building[zone]:  # changed meanwhile: as they are now
                chain.mark(name, bool(self.source.rrs(zone, name)))
        finally:
            self._building.pop(zone, None)
        self.chains[zone] = chain
        yield from list(chain.by_owner)

    def rrs(self, zone: str, name: str) -> tuple:
        chain = self.chains.get(zone)
        if chain is not None and name in chain.by_owner:
            return self._nsec3(zone, chain, name)
        plain = self.source.rrs(zone, name)
        if not plain and name != zone:
            self._sigs.pop((zone, name), None)
            return ()
        signer = self.signers[zone]
        rrsets = _rrsets(plain)
        extra: list[bytes] = []
        if name == zone:
            apex = signer.origin.canonicalize().to_wire() or b""
            rrsets.append((apex, _rrsets([self.source.soa(zone)])[0][1]))
            for rrset in (signer.dnskeys, signer.param):
                rrsets.append((apex, rrset))
                extra.extend(_wire(apex, rrset))
        return tuple(sorted(list(plain) + extra + self._signatures(zone, name, signer, rrsets)))

    def _signatures(self, zone: str, name: str, signer, rrsets) -> list[bytes]:
        """RRSIGs over ``rrsets`` (all owned by ``name``): made once per content and generation."""
        inception, expiration = self.times()
        kept = self._sigs.get((zone, name), {})
        fresh: dict[int, tuple] = {}
        out: list[bytes] = []
        for owner, rrset in rrsets:
            content = (self.generation, rrset.ttl, tuple(sorted(rd.to_digestable() for rd in rrset)))
            entry = kept.get(rrset.rdtype)
            if entry is None or entry[0] != content:
                sigs = dns.rrset.RRset(rrset.name, IN, T.RRSIG, rrset.rdtype)
                for rd in signer.sign_at(rrset, inception, expiration):
                    sigs.add(rd, rrset.ttl)
                entry = (content, _wire(owner, sigs))
            fresh[rrset.rdtype] = entry
            out.extend(entry[1])
        self._sigs[(zone, name)] = fresh
        return out

    def _nsec3(self, zone: str, chain: Chain, owner: str) -> tuple:
        h = chain.by_owner[owner]
        name = chain.by_hash[h]
        types: list = []
        if name in chain.data or name == zone:
            types = sorted({rrset.rdtype for _, rrset in _rrsets(self.source.rrs(zone, name))} | {T.RRSIG} |
                           ({T.SOA, T.DNSKEY, T.NSEC3PARAM} if name == zone else set()))
        soa = _rrsets([self.source.soa(zone)])[0][1]
        ttl = min(soa.ttl, soa[0].minimum)  # RFC 9077
        windows = dns.rdtypes.util.Bitmap.from_rdtypes(types).windows
        rd = dns.rdtypes.ANY.NSEC3.NSEC3(IN, T.NSEC3, 1, 0, 0, b"", chain.next_hash(h), windows)
        rrset = dns.rrset.RRset(dns.name.from_text(owner), IN, T.NSEC3)
        rrset.add(rd, ttl)
        wire_owner = rrset.name.canonicalize().to_wire() or b""
        sigs = self._signatures(zone, owner, self.signers[zone], [(wire_owner, rrset)])
        return tuple(sorted(_wire(wire_owner, rrset) + sigs))

    def owners(self, zone: str, name: str) -> list[str]:
        names = list(self.source.owners(zone, name))
        out = dict.fromkeys(names + [zone])  # the apex: its RRSIG over the SOA follows the serial
        chain = self.chains.get(zone)
        if chain is not None:
            out.update(dict.fromkeys(sorted(chain.affected(names))))
        return list(out)

    # -- IChangeFeed ----------------------------------------------------------------------------
    def subscribe(self, fn) -> None:
        if not self.listeners:
            self.source.subscribe(self._changed)
        if fn not in self.listeners:
            self.listeners.append(fn)

    def unsubscribe(self, fn) -> None:
        if fn in self.listeners:
            self.listeners.remove(fn)
        if not self.listeners:
            self.source.unsubscribe(self._changed)

    def _changed(self, name) -> None:
        """The source changed ``name``: the chains follow, then our listeners hear of it."""
        if name is None:
            self.chains.clear()  # read whole again by the next names()
        else:
            for zone in self.zones:
                if not (zone == "." or name == zone or name.endswith("." + zone)):
                    continue
                changed = self.source.owners(zone, name)
                if zone in self._building:
                    self._building[zone].update(changed)
                chain = self.chains.get(zone)
                if chain is not None:
                    for n in changed:
                        if n != zone:
                            chain.mark(n, bool(self.source.rrs(zone, n)))
        for fn in list(self.listeners):
            fn(name)
