"""Command line: ``twistd [-n] skydns -c Corefile`` and the ``skydns`` console script.

``skydns -c Corefile`` runs the server in the foreground through twistd (so
logging, ``--pidfile`` and friends behave the same); ``skydns plugins`` and
``skydns validate`` work without starting anything.
"""
from __future__ import annotations

import os
import sys

from twisted.python import usage

from skydns.errors import CorefileError


class Options(usage.Options):
    """Options of ``twistd skydns``."""

    synopsis = "[-c Corefile] [-p PORT] [--validate] [--plugins]"
    optParameters = [
        ["conf", "c", "Corefile", "The Corefile to serve."],
        ["port", "p", 53, "Port for server block keys that name none.", int],
    ]
    optFlags = [
        ["reuseport", None, "Open listeners with SO_REUSEPORT (what each worker of `skydns --workers N` does)."],
        ["validate", None, "Check the Corefile (and every plugin's configuration), then exit."],
        ["plugins", None, "List the plugins in chain order, with where each comes from, then exit."],
    ]

    def postOptions(self):
        from skydns import config
        from skydns.registry import Registry

        registry = Registry()
        if self["plugins"]:
            print_plugins(registry)
            raise SystemExit(0)
        if not 0 <= self["port"] < 65536:
            raise usage.UsageError(f"port {self['port']} is out of range")
        try:
            self["config"] = config.load(self["conf"], registry, self["port"])
        except CorefileError as e:
            raise usage.UsageError(str(e))
        self["registry"] = registry
        if self["validate"]:
            for b, plugins in self["config"].blocks:
                print(f"{b.name}: {' -> '.join(name for name, _, _ in plugins)}")
            print(f"{self['conf']}: OK")
            raise SystemExit(0)


def makeService(options):
    """The service tree for twistd: one SkyDNSService for the Corefile."""
    from skydns.service import SkyDNSService

    return SkyDNSService(
        os.path.abspath(options["conf"]),
        registry=options.get("registry"),
        default_port=options["port"],
        config=options.get("config"),
        reuse_port=bool(options["reuseport"]),
    )


def print_plugins(registry, out=None) -> None:
    """Every directive in chain order (outermost first) and where it comes from."""
    out = out or sys.stdout
    for info in registry.describe():
        pos = f"  ({info.position})" if info.position else ""
        out.write(f"{info.name:<12} {info.source}{pos}\n")


def print_ds(argv: list[str]) -> int:
    """``skydns ds [-c Corefile]``: the DS records of the dnssec keys, for the parent zone."""
    import dns.dnssec

    from skydns import config

    path = "Corefile"
    for i, a in enumerate(argv):
        if a in ("-c", "--conf") and i + 1 < len(argv):
            path = argv[i + 1]
    try:
        cfg = config.load(path)
    except CorefileError as e:
        sys.stderr.write(f"skydns: {e}\n")
        return 1
    found = False
    for block, plugins in cfg.blocks:
        for name, _, c in plugins:
            if name != "dnssec":
                continue
            zones, keys, _ = c
            # The parent points at the key-signing keys; without any, at every key.
            for key in [k for k in keys if k.sep] or keys:
                ds = dns.dnssec.make_ds(key.zone, key.dnskey, "SHA256")
                print(f"{key.zone} IN DS {ds.to_text()}")
                found = True
    if not found:
        sys.stderr.write(f"skydns: no dnssec keys in {path}\n")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``skydns [plugins | validate] [-c Corefile] [twistd-style options]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "plugins":
        from skydns.registry import Registry

        print_plugins(Registry())
        return 0
    if argv and argv[0] == "ds":
        return print_ds(argv[1:])
    if argv and argv[0] == "validate":
        argv = argv[1:] + ["--validate"]
    if argv and argv[0] in ("-h", "--help"):
        print("usage: skydns [plugins | validate | ds] [-c Corefile] [-p PORT] [--workers N]\n"
              "Runs the server in the foreground; use twistd skydns for a daemon.\n"
              "--workers N runs N processes sharing every port (SO_REUSEPORT); the Corefile's\n"
              "'workers N' directive does the same.")
        return 0
    from skydns import workers

    count, argv = workers.count_from(argv)
    if count > 1:
        return workers.supervise(argv, count)
    from twisted.scripts.twistd import run

    sys.argv = ["twistd", "--nodaemon", "--pidfile=", "skydns"] + argv
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
