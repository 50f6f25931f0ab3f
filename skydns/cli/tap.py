"""Command line: ``twistd [-n] skydns -c Corefile`` and the ``skydns`` console script.

``skydns -c Corefile`` runs the server in the foreground through twistd's
runner (so logging, ``--pidfile`` and friends behave the same) without
twistd's plugin discovery: it works from any install, editable ones
included. ``skydns plugins``, ``skydns validate`` and the subcommands that
distributions register (``skydns.commands``, such as dnssec's ``skydns ds``)
work without starting anything.
"""
from __future__ import annotations

import os
import sys

from twisted.application.service import ServiceMaker
from twisted.python import usage

from skydns import __version__
from skydns.config.errors import CorefileError

#: What ``twistd skydns`` is; ``twisted/plugins/skydns_plugin.py`` hands this to twistd's discovery.
service_maker = ServiceMaker(
    "skydns",
    "skydns.cli.tap",
    "DNS server for service discovery (etcd v3), configured by a Corefile",
    "skydns",
)


class Options(usage.Options):
    """Options of ``twistd skydns``."""

    synopsis = "[-c Corefile] [-p PORT] [--validate] [--plugins]"
    optParameters = [
        ["conf", "c", "Corefile", "The Corefile to serve."],
        ["port", "p", 53, "Port for server block keys that name none.", int],
    ]
    optFlags = [
        ["reuseport", None, "Open listeners with SO_REUSEPORT (what each worker of `skydns --workers N` does)."],
        ["systemd", None, "Serve the sockets systemd passes (socket activation; SkyDNS's -systemd); "
                          "fail when there are none. Passed sockets are taken without it too."],
        ["validate", None, "Check the Corefile (and every plugin's configuration), then exit."],
        ["plugins", None, "List the plugins in chain order, with where each comes from, then exit."],
    ]

    def opt_version(self):
        """Print skydns's version and exit."""
        print(f"skydns {__version__}")
        raise SystemExit(0)

    def postOptions(self):
        from skydns import config
        from skydns.config.registry import Registry

        registry = Registry()
        if self["plugins"]:
            print_plugins(registry)
            raise SystemExit(0)
        if not 0 <= self["port"] < 65536:
            raise usage.UsageError(f"port {self['port']} is out of range")
        if self["systemd"] and (os.environ.get("LISTEN_PID") != str(os.getpid())
                                or os.environ.get("LISTEN_FDS", "0") in ("", "0")):
            raise usage.UsageError("--systemd: systemd passed no sockets to this process (LISTEN_PID and "
                                   "LISTEN_FDS are not set for it); start it from a .socket unit")
        try:
            self["config"] = config.load(self["conf"], registry, self["port"])
        except CorefileError as e:
            raise usage.UsageError(str(e)) from e
        self["registry"] = registry
        if self["validate"]:
            for b, plugins in self["config"].blocks:
                print(f"{b.name}: {' -> '.join(name for name, _, _ in plugins)}")
            print(f"{self['conf']}: OK")
            raise SystemExit(0)


def makeService(options):
    """The service tree for twistd: one SkyDNSService for the Corefile (on the reactor's lean dispatch)."""
    from twisted.internet import reactor

    from skydns.listen.dispatch import lean_dispatch
    from skydns.listen.service import SkyDNSService

    lean_dispatch(reactor)

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


USAGE = """\
usage: skydns [-c Corefile] [-p PORT] [--workers N] [twistd options]
       skydns validate [-c Corefile]
       skydns plugins
       skydns --version
       skydns COMMAND [ARGS...]
Runs the server in the foreground; use twistd skydns for a daemon.
--workers N runs N processes sharing every port (SO_REUSEPORT); the Corefile's
'workers N' directive does the same.
"""


def print_help(out=None) -> None:
    out = out or sys.stdout
    from skydns.cli import commands

    out.write(USAGE)
    found = commands.available()
    if found:
        out.write("Commands:\n")
        width = max(len(name) for name, _ in found)
        for name, summary in found:
            out.write(f"  {name:<{width}}  {summary}\n")


def run_twistd(argv: list[str], twistd_options: list[str] | None = None) -> None:
    """``twistd --nodaemon [TWISTD_OPTIONS] skydns ARGV``, with skydns as twistd's only subcommand (no
    discovery)."""
    from twisted.application import app
    from twisted.scripts import twistd

    class ServerOptions(twistd.ServerOptions):
        @staticmethod
        def _getPlugins(interface, package=None):
            return [service_maker]

    sys.argv = ["skydns", "--nodaemon", "--pidfile=", *(twistd_options or []), "skydns"] + argv
    app.run(twistd.runApp, ServerOptions)


def main(argv: list[str] | None = None) -> int:
    """``skydns [plugins | validate | COMMAND] [-c Corefile] [twistd-style options]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv else ""
    if first in ("--version", "-V", "version"):
        print(f"skydns {__version__}")
        return 0
    if first in ("-h", "--help", "help"):
        print_help()
        return 0
    if first == "plugins":
        from skydns.config.registry import Registry

        print_plugins(Registry())
        return 0
    if first == "validate":
        argv = argv[1:] + ["--validate"]
    elif first and not first.startswith("-"):
        from skydns.cli import commands

        try:
            command = commands.load(first)
        except LookupError as e:
            sys.stderr.write(f"skydns: {e}\n")
            return 2
        return command.run(argv[1:])
    if "--reuseport" not in argv:  # a worker never supervises others
        from skydns.cli import workers

        count, argv = workers.count_from(argv)
        if count > 1:
            return workers.supervise(argv, count)
    run_twistd(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
