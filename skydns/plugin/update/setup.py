"""Corefile: ``update [ZONES...] { key NAME [names NAME...] [types TYPE...] }``: who may change what.

Each ``key`` line lets the TSIG key NAME (from the block's ``tsig``) change records at or
below ``names`` (default: the zones) of ``types`` (default: A AAAA SRV TXT CNAME MX PTR,
the types stored). Updates signed by other keys, or unsigned, are REFUSED.
"""
from __future__ import annotations

import dns.rdatatype
from zope.interface import implementer

from skydns.interfaces import IPluginSetup, ITSIGKeys, IZoneEditor
from skydns.plugin.update.update import TYPES, Policy, Update
from skydns.query.tsig import Replays
from skydns.query.zones import in_zones


@implementer(IPluginSetup)
class UpdateSetup:
    name = "update"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "tsig {\n    secret ${tsig_key} ${tsig_secret}\n}\nupdate ${zone} {\n    key ${tsig_key}\n}"

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.remaining_args()) or list(block.zones)
        for z in zones:
            if in_zones(z, block.zones) is None:
                raise d.error(f"zone {z} is not served by this server block")
        policies = {}
        for _ in d.block():
            if d.val != "key":
                raise d.unknown_property(("key",))
            args = d.args(1, None)
            key, rest = args[0], args[1:]
            names: list[str] = []
            types: set[int] = set()
            mode = None
            for a in rest:
                if a in ("names", "types"):
                    mode = a
                elif mode == "names":
                    names.extend(d.zones([a]))
                elif mode == "types":
                    if a.upper() not in TYPES:
                        raise d.error(f"type {a} cannot be updated (expected {', '.join(TYPES)})")
                    types.add(int(dns.rdatatype.from_text(a.upper())))
                else:
                    raise d.error(f"expected 'names NAME...' or 'types TYPE...' after the key name, got {a!r}")
            for n in names:
                if in_zones(n, zones) is None:
                    raise d.error(f"names: {n} is outside the zones of this update")
            policy = Policy(key, names or zones, types or {int(dns.rdatatype.from_text(t)) for t in TYPES})
            policies[policy.key] = policy
        if not policies:
            raise d.error("update needs at least one 'key NAME ...' line: updates are only taken signed")
        if d.next():
            raise d.once_error()
        return zones, policies

    def build(self, cfg, block, next):
        zones, policies = cfg
        editors = {}
        for z in zones:
            found = [e for e in block.find(IZoneEditor) if z in e.zones]
            if not found:
                raise block.error(self.name, f"zone {z} has no store updates can write to (etcd serving "
                                  "exactly that zone)")
            editors[z] = found[0]

        def keys():
            found = block.find(ITSIGKeys)  # looked up when used: tsig is built after this plugin
            return found[0] if found else None

        # a link of the chain (IUpdater): the server sends UPDATEs down the chain, acl and the others in front apply
        replays = block.acquire(("update-replays",), Replays, lambda _: None)  # kept across reloads
        return Update(zones, policies, editors, keys, server=block.name, next=next, replays=replays)


setup = UpdateSetup()
