"""Corefile: ``tsig [ZONES...] { secret NAME KEY [ALGORITHM]; require [QTYPE...] }`` (CoreDNS's syntax).

The keys transfers (``transfer``) and dynamic updates (``update``) are signed with.
``secret`` may be given several times; ALGORITHM defaults to hmac-sha256 (also
hmac-sha1, -sha224, -sha384, -sha512, -md5). ``require AXFR IXFR`` (or ``all``) refuses
unsigned transfers; ``require none`` is the default. Updates are always signed: an
update's key decides what it may change. Unlike CoreDNS's, this plugin does not sign
or check other queries.
"""
from __future__ import annotations

import dns.rdatatype
from zope.interface import implementer

from skydns.interfaces import IPluginSetup, ITSIGKeys
from skydns.query.tsig import Keyring


@implementer(ITSIGKeys)
class TSIGKeys:
    def __init__(self, keyring: Keyring, zones: list[str], require: set):
        self.keyring = keyring
        self.zones = zones
        self.require = require  # qtype ints, or {"all"}

    def required(self, qtype) -> bool:
        return "all" in self.require or qtype in self.require


@implementer(IPluginSetup)
class TsigSetup:
    name = "tsig"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "tsig {\n    secret ${tsig_key} ${tsig_secret}\n}"

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.remaining_args()) or list(block.zones)
        keyring = Keyring()
        require: set = set()
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "secret":
                d.expect_args(vals, 2, 3)
                try:
                    keyring.add(*vals)
                except ValueError as e:
                    raise d.error(str(e)) from e
            elif prop == "require":
                require = set()
                for v in vals or ["all"]:
                    if v.lower() in ("all", "none"):
                        if v.lower() == "all":
                            require.add("all")
                        continue
                    try:
                        require.add(int(dns.rdatatype.from_text(v.upper())))
                    except Exception as e:
                        raise d.error(f"require: unknown query type {v!r}") from e
            else:
                raise d.unknown_property(("secret", "require"))
        if d.next():
            raise d.once_error()
        if not keyring:
            raise d.error("tsig needs at least one 'secret NAME KEY [ALGORITHM]'")
        return TSIGKeys(keyring, zones, require)

    def build(self, keys, block, next):
        block.provide(keys)
        return None


setup = TsigSetup()
