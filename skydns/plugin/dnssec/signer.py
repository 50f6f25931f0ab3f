"""Signing RRsets for a zone, with a signature cache, and NSEC3 white lies.

Signatures: inception an hour in the past, expiration a week ahead; a cached
signature is used until less than half its validity is left. The cache is an
LRU keyed by the RRset's content (owner, type, TTL, rdata) and the key.

Denial (RFC 7129 appendix B, "white lies"): NSEC3 records (SHA-1, no salt, no
extra iterations, RFC 9276) made per answer that cover just the hashes they
must: for NXDOMAIN one matching the closest encloser, one covering the next
closer name and one covering the wildcard at the closest encloser; for NODATA
one matching the query name whose type bitmap lacks the query type.
"""
from __future__ import annotations

import base64
import time
from collections import OrderedDict

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.NSEC3PARAM
import dns.rdtypes.util
import dns.rrset

IN = dns.rdataclass.IN
INCEPTION_BACK = 3600
VALIDITY = 7 * 24 * 3600
#: Types a name of ours may hold; white-lie bitmaps never deny these (but the query type).
POSSIBLE = [dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.MX, dns.rdatatype.TXT, dns.rdatatype.SRV,
            dns.rdatatype.HTTPS, dns.rdatatype.SVCB,
            dns.rdatatype.PTR, dns.rdatatype.HINFO, dns.rdatatype.RRSIG]
APEX = [dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.DNSKEY, dns.rdatatype.NSEC3PARAM]


def _b32(raw: bytes) -> str:
    return base64.b32hexencode(raw).decode().lower()


def _step(raw: bytes, delta: int) -> bytes:
    n = (int.from_bytes(raw, "big") + delta) % (1 << (8 * len(raw)))
    return n.to_bytes(len(raw), "big")


class Signer:
    def __init__(self, zone: str, keys: list, capacity: int = 10000, clock=time.time):
        self.zone = zone
        self.origin = dns.name.from_text(zone)
        self.keys = keys
        ksks = [k for k in keys if k.sep]
        zsks = [k for k in keys if not k.sep]
        # With both kinds, KSKs sign only the DNSKEY set; with one kind, it signs everything.
        self.dnskey_signers = ksks or zsks
        self.signers = zsks or ksks
        self.capacity = capacity
        self.clock = clock
        self.cache: OrderedDict = OrderedDict()
        self.made = 0
        self.hits = 0
        self.dnskeys = dns.rrset.RRset(self.origin, IN, dns.rdatatype.DNSKEY)
        for k in keys:
            self.dnskeys.add(k.dnskey, 3600)
        self.param = dns.rrset.RRset(self.origin, IN, dns.rdatatype.NSEC3PARAM)
        self.param.add(dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM(IN, dns.rdatatype.NSEC3PARAM, 1, 0, 0, b""), 0)

    # -- signatures -----------------------------------------------------------
    def sign(self, rrset: dns.rrset.RRset) -> dns.rrset.RRset:
        """The RRSIG RRset for ``rrset`` (TTL as the RRset's), from the cache when still fresh."""
        signers = self.dnskey_signers if rrset.rdtype == dns.rdatatype.DNSKEY else self.signers
        out = dns.rrset.RRset(rrset.name, IN, dns.rdatatype.RRSIG, rrset.rdtype)
        content = (rrset.name.canonicalize().to_text(), rrset.rdtype, rrset.ttl,
                   tuple(sorted(rd.to_digestable(self.origin) for rd in rrset)))
        now = int(self.clock())
        for key in signers:
            ck = (content, key.tag, key.algorithm)
            sig = self.cache.get(ck)
            if sig is not None and sig.expiration - now > VALIDITY // 2:
                self.cache.move_to_end(ck)
                self.hits += 1
            else:
                sig = dns.dnssec.sign(rrset, key.private, self.origin, key.dnskey,
                                      inception=now - INCEPTION_BACK, expiration=now + VALIDITY)
                self.made += 1
                self.cache[ck] = sig
                self.cache.move_to_end(ck)
                while len(self.cache) > self.capacity:
                    self.cache.popitem(last=False)
            out.add(sig, rrset.ttl)
        return out

    def sign_at(self, rrset: dns.rrset.RRset, inception: int, expiration: int) -> list:
        """RRSIG rdatas over ``rrset`` valid from ``inception`` to ``expiration`` (a signed zone's times)."""
        signers = self.dnskey_signers if rrset.rdtype == dns.rdatatype.DNSKEY else self.signers
        self.made += len(signers)
        return [dns.dnssec.sign(rrset, key.private, self.origin, key.dnskey, inception=inception,
                                expiration=expiration) for key in signers]

    # -- denial ---------------------------------------------------------------
    def _hash(self, name: dns.name.Name) -> bytes:
        return base64.b32hexdecode(dns.dnssec.nsec3_hash(name, b"", 0, 1).upper())

    def _nsec3(self, owner_hash: bytes, next_hash: bytes, types, ttl: int) -> dns.rrset.RRset:
        owner = dns.name.from_text(_b32(owner_hash), self.origin)
        windows = dns.rdtypes.util.Bitmap.from_rdtypes(sorted(set(types))).windows
        rd = dns.rdtypes.ANY.NSEC3.NSEC3(IN, dns.rdatatype.NSEC3, 1, 0, 0, b"", next_hash, windows)
        rrset = dns.rrset.RRset(owner, IN, dns.rdatatype.NSEC3)
        rrset.add(rd, ttl)
        return rrset

    def _matching(self, name: dns.name.Name, types, ttl: int) -> dns.rrset.RRset:
        h = self._hash(name)
        return self._nsec3(h, _step(h, 1), types, ttl)

    def _covering(self, name: dns.name.Name, ttl: int) -> dns.rrset.RRset:
        h = self._hash(name)
        return self._nsec3(_step(h, -1), _step(h, 1), [], ttl)

    def _types_at(self, name: dns.name.Name, without: int | None = None):
        types = POSSIBLE + (APEX if name == self.origin else [])
        return [t for t in types if t != without] + [dns.rdatatype.RRSIG]

    def nodata(self, qname: dns.name.Name, qtype: int, ttl: int) -> list[dns.rrset.RRset]:
        return [self._matching(qname, self._types_at(qname, qtype), ttl)]

    def nxdomain(self, qname: dns.name.Name, closest: dns.name.Name, ttl: int) -> list[dns.rrset.RRset]:
        next_closer = dns.name.Name(qname.labels[-(len(closest.labels) + 1):])
        wildcard = dns.name.Name((b"*",) + closest.labels)
        out = [self._matching(closest, self._types_at(closest), ttl), self._covering(next_closer, ttl)]
        cover_wild = self._covering(wildcard, ttl)
        if cover_wild.name != out[1].name:
            out.append(cover_wild)
        return out
