"""``skydns ds [-c Corefile]``: the DS records of the dnssec keys, to hand to the parent zone.

Registered as a ``skydns.commands`` entry point by skydns's own
``pyproject.toml``, the way any distribution adds a subcommand.
"""
from __future__ import annotations

import argparse
import sys

import dns.dnssec
from zope.interface import implementer

from skydns.config.errors import CorefileError
from skydns.interfaces import ICommand


@implementer(ICommand)
class DSCommand:
    name = "ds"
    summary = "print the DS records of the dnssec keys of a Corefile, for the parent zone"

    def run(self, argv: list[str]) -> int:
        from skydns import config
        from skydns.plugin.dnssec.setup import setup

        ap = argparse.ArgumentParser(prog="skydns ds", description=self.summary)
        ap.add_argument("-c", "--conf", default="Corefile", help="the Corefile (default: ./Corefile)")
        ap.add_argument("--digest", default="SHA256", choices=("SHA256", "SHA384"),
                        help="digest algorithm (default SHA256)")
        args = ap.parse_args(argv)
        try:
            cfg = config.load(args.conf)
        except CorefileError as e:
            sys.stderr.write(f"skydns: {e}\n")
            return 1
        found = False
        for _block, parsed in cfg.parsed(setup):
            _zones, keys, _capacity = parsed
            # The parent points at the key-signing keys; without any, at every key.
            for key in [k for k in keys if k.sep] or keys:
                ds = dns.dnssec.make_ds(key.zone, key.dnskey, args.digest)
                print(f"{key.zone} IN DS {ds.to_text()}")
                found = True
        if not found:
            sys.stderr.write(f"skydns: no dnssec keys in {args.conf}\n")
            return 1
        return 0


command = DSCommand()
