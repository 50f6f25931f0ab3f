"""Corefile parsing for ``txt``: every occurrence adds one name."""
from __future__ import annotations

import dns.name
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.query.dnsutil import MAX_STRING
from skydns.query.zones import in_zones
from skydns_txt.handler import Txt


@implementer(IPluginSetup)
class TxtSetup:
    name = "txt"
    position = ("after", "cache")
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "txt t.${zone} hello"

    def parse(self, d, block):
        records: dict[str, list[str]] = {}
        origin = dns.name.from_text(block.zones[0])
        while d.next():
            args = d.args(2, None)
            name, texts = args[0], args[1:]
            try:
                owner = dns.name.from_text(name, origin=origin).to_text().lower()
            except Exception as e:
                raise d.error(f"bad name '{name}': {e}") from e
            if in_zones(owner, block.zones) is None:
                raise d.error(f"'{owner}' is outside this block's zones ({', '.join(block.zones)})")
            for t in texts:
                if len(t.encode()) > MAX_STRING:
                    raise d.error(f"text longer than {MAX_STRING} bytes: '{t[:20]}...'")
            if owner in records:
                raise d.error(f"'{owner}' is given twice")
            records[owner] = texts
        return records

    def build(self, config, block, next):
        return Txt(config, next)


setup = TxtSetup()
