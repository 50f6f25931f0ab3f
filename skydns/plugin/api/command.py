"""``skydns token NAME [read|write] [NAMES...]``: a fresh records API token, and its Corefile line.

The secret is printed once, for the client; the Corefile gets only its hash
(``sha256:HEX``), so a Corefile that leaks gives nobody a token.
"""
from __future__ import annotations

import argparse
import sys

from zope.interface import implementer

from skydns.interfaces import ICommand
from skydns.plugin.api.tokens import ACCESS, hashed, new_secret


@implementer(ICommand)
class TokenCommand:
    name = "token"
    summary = "make a records API token: the secret for the client, its hash for the Corefile"

    def run(self, argv: list[str]) -> int:
        ap = argparse.ArgumentParser(prog="skydns token", description=self.summary)
        ap.add_argument("name", help="the token's name (the history notes its writes as api:NAME)")
        ap.add_argument("access", nargs="?", default="write", choices=ACCESS)
        ap.add_argument("names", nargs="*", help="names a write token may change (default: every served name)")
        args = ap.parse_args(argv)
        if args.names and args.access == "read":
            ap.error("a read token reads every name; names are for write tokens")
        secret = new_secret()
        line = " ".join(["token", args.name, hashed(secret), args.access] + args.names)
        sys.stdout.write(f"secret (give it to the client; it is not kept anywhere): {secret}\n"
                         f"Corefile line (in the api block):\n    {line}\n")
        return 0


command = TokenCommand()
