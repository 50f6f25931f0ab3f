"""``skydns hosts FILE...``: what hosts files hold, as the plugin reads them (names, addresses, bad lines)."""
from __future__ import annotations

import sys

from zope.interface import implementer

from skydns.interfaces import ICommand
from skydns_hosts.hostsfile import parse


@implementer(ICommand)
class HostsCommand:
    name = "hosts"
    summary = "print the names and addresses hosts files give, and the lines the hosts plugin would skip"

    def run(self, argv) -> int:
        if not argv or argv[0] in ("-h", "--help"):
            print("usage: skydns hosts FILE...", file=sys.stderr)
            return 2
        status = 0
        for path in argv:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    entries = parse(f)
            except OSError as e:
                print(f"{path}: {e.strerror}", file=sys.stderr)
                status = 1
                continue
            for name, addresses in sorted(entries.addresses.items()):
                print(f"{name} {' '.join(addresses)}")
            for number, why in entries.bad:
                print(f"{path}:{number}: {why}", file=sys.stderr)
                status = 1
        return status


command = HostsCommand()
