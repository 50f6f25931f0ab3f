"""SkyDNS's own configuration, as a Corefile: ``skydns migrate`` prints it, ``skydns legacy`` serves it.

People leaving SkyDNS bring a command line (``skydns -addr 0.0.0.0:53 -domain
skydns.local -nameservers 8.8.8.8:53 ...``), ``SKYDNS_*``/``ETCD_*`` variables and the
JSON object SkyDNS keeps in etcd at ``/<path-prefix>/config`` (:mod:`.settings`); people
leaving the Kubernetes fork bring its INI files (``-config-file``, :mod:`.fork`). The
equivalent Corefile is written by :mod:`.corefile`, every value checked and no secret in it.
"""
from __future__ import annotations

import os
import shlex
import sys

from zope.interface import implementer

from skydns.cli.legacy.corefile import corefile, secrets
from skydns.cli.legacy.settings import FLAGS, LegacyError, Settings, apply_config, load, parse_flags, read_config
from skydns.interfaces import ICommand

__all__ = ["FLAGS", "LegacyError", "Settings", "apply_config", "corefile", "legacy_command", "load",
           "migrate_command", "parse_flags", "read_config", "secrets"]


def _version() -> int:
    from skydns import __version__

    print(f"skydns {__version__} (serving SkyDNS's configuration)")
    return 0


def _usage(command: str, summary: str) -> str:
    extra = " [-- twistd options]" if command == "legacy" else ""
    return (f"usage: skydns {command} [SkyDNS flags: {' '.join('-' + f for f in FLAGS)}]{extra}\n{summary}\n"
            "-config-file FILE (repeatable) reads the Kubernetes fork's INI files (skydns.conf, skydns-kubeapi's, "
            "the scanner's).\n")


@implementer(ICommand)
class MigrateCommand:
    name = "migrate"
    summary = "print the Corefile equivalent to a SkyDNS command line, its environment and /skydns/config"

    def run(self, argv: list[str]) -> int:
        if argv[:1] in (["-h"], ["--help"]):
            sys.stdout.write(_usage(self.name, self.summary) + "-show-secrets also prints the secrets, as shell "
                             "exports (they are masked otherwise).\n")
            return 0
        show = any(a in ("-show-secrets", "--show-secrets") for a in argv)
        argv = [a for a in argv if a not in ("-show-secrets", "--show-secrets")]
        try:
            settings, rest = load(argv)
            if settings.version:
                return _version()
            if rest:
                raise LegacyError(f"unexpected arguments: {' '.join(rest)}")
            text = corefile(settings)
            found = secrets(settings)
            kept = sorted(found)
            if kept or settings.password_file:
                names = " and ".join(f"${n}" for n in kept or ["ETCD_PASSWORD"])
                text = f"# secrets are not written here: give them to skydns as {names}\n" + text
            if show and found:
                exports = "".join(f"# export {n}={shlex.quote(v)}\n" for n, v in sorted(found.items()))
                text = "# -show-secrets:\n" + exports + text
        except LegacyError as e:
            sys.stderr.write(f"skydns migrate: {e}\n")
            return 2
        sys.stdout.write(text)
        for note in settings.notes:
            sys.stderr.write(f"note: {note}\n")
        return 0


@implementer(ICommand)
class LegacyCommand:
    name = "legacy"
    summary = "serve a SkyDNS command line (its flags, environment and /skydns/config) as it is"

    def run(self, argv: list[str]) -> int:
        import tempfile

        from skydns.cli import tap

        if argv[:1] in (["-h"], ["--help"]):
            sys.stdout.write(_usage(self.name, self.summary))
            return 0
        if any(a.lstrip("-").split("=")[0] == "password" for a in argv):
            sys.stderr.write("warning: -password shows in ps and in the shell's history; use $ETCD_PASSWORD or "
                             "-password-file FILE\n")
        try:
            settings, rest = load(argv)
            if settings.version:
                return _version()
            text = corefile(settings)
            os.environ.update(secrets(settings))
        except LegacyError as e:
            sys.stderr.write(f"skydns legacy: {e}\n")
            return 2
        for note in settings.notes:
            sys.stderr.write(f"note: {note}\n")
        fd, path = tempfile.mkstemp(prefix="skydns-legacy-", suffix=".Corefile")  # 0600, and gone at exit
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            # what follows -- is twistd's (--logfile, --pidfile...): it goes before the skydns subcommand
            tap.run_twistd(["-c", path] + (["--systemd"] if settings.systemd else []), twistd_options=rest)
        finally:
            os.unlink(path)
        return 0


migrate_command = MigrateCommand()
legacy_command = LegacyCommand()
