"""Answers as dnspython messages: for replies that splice in records from upstream, and names with escapes."""
from __future__ import annotations

import struct

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.HINFO
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
import dns.rrset

from skydns.query.answers import rules as lk
from skydns.query.dnsutil import txt_strings

IN = dns.rdataclass.IN


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def rdata(rec: lk.Rec):
    t, d = rec.rtype, rec.data
    if t == lk.A:
        return dns.rdtypes.IN.A.A(IN, t, d[0])
    if t == lk.AAAA:
        return dns.rdtypes.IN.AAAA.AAAA(IN, t, d[0])
    if t == lk.SRV:
        return dns.rdtypes.IN.SRV.SRV(IN, t, d[0], d[1], d[2], _name(d[3]))
    if t == lk.CNAME:
        return dns.rdtypes.ANY.CNAME.CNAME(IN, t, _name(d[0]))
    if t == lk.TXT:
        return dns.rdtypes.ANY.TXT.TXT(IN, t, txt_strings(d[0]))
    if t == lk.MX:
        return dns.rdtypes.ANY.MX.MX(IN, t, d[0], _name(d[1]))
    if t == lk.NS:
        return dns.rdtypes.ANY.NS.NS(IN, t, _name(d[0]))
    if t == lk.PTR:
        return dns.rdtypes.ANY.PTR.PTR(IN, t, _name(d[0]))
    if t == lk.SOA:
        return dns.rdtypes.ANY.SOA.SOA(IN, t, _name(d[0]), _name(d[1]), *d[2:])
    if t == lk.HINFO:
        return dns.rdtypes.ANY.HINFO.HINFO(IN, t, d[0].encode(), d[1].encode())
    if t in (lk.HTTPS, lk.SVCB):
        data = struct.pack("!H", d[0]) + (_name(d[1]).to_wire() or b"\x00") + d[2]
        return dns.rdata.from_wire(IN, t, data, 0, len(data))
    raise ValueError(f"cannot make rdata of type {t}")


def add_records(section: list, recs: list[lk.Rec], qname: str, qname_as_asked, ttl: int | None,
                one_cname_per_owner: bool = False) -> None:
    """Group records into RRsets (first-seen order), owner of the query name spelled as asked."""
    by_key: dict[tuple, dns.rrset.RRset] = {}
    for rrset in section:
        by_key[(rrset.name.to_text().lower(), rrset.rdtype)] = rrset
    for rec in recs:
        key = (rec.owner, rec.rtype)
        rrset = by_key.get(key)
        if rrset is None:
            if one_cname_per_owner and rec.rtype == lk.CNAME and (rec.owner, lk.CNAME) in by_key:
                continue
            owner = qname_as_asked if rec.owner == qname else _name(rec.owner)
            rrset = by_key[key] = dns.rrset.RRset(owner, IN, rec.rtype)
            section.append(rrset)
        elif one_cname_per_owner and rec.rtype == lk.CNAME:
            continue
        rrset.add(rdata(rec), rec.ttl if ttl is None else ttl)
        if ttl is None and rec.ttl < rrset.ttl:
            rrset.update_ttl(rec.ttl)


def with_ttl(rrset, ttl: int | None):
    """A copy of an upstream RRset with ``ttl`` (the upstream's own message is left as it was)."""
    if ttl is None or rrset.ttl == ttl:
        return rrset
    return dns.rrset.from_rdata_list(rrset.name, ttl, list(rrset))
