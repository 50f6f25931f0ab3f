"""Corefile: the ``etcd`` directive (CoreDNS's options plus SkyDNS's)::

    etcd [ZONES...] {
        path PATH                      # default /skydns (or /$SKYDNS_PATH_PREFIX)
        endpoint URL...                # default http://127.0.0.1:2379 (or $ETCD_MACHINES)
        credentials USERNAME PASSWORD  # or $ETCD_USERNAME / $ETCD_PASSWORD
        tls [CERT KEY] [CACERT]        # 0-3 arguments as CoreDNS (system CAs without CACERT);
                                       # or $ETCD_TLSPEM / $ETCD_TLSKEY / $ETCD_CACERT
        min-lease-ttl DURATION         # a leased key's TTL is at least this (default 0: SkyDNS's countdown)
        max-lease-ttl DURATION         # and at most this (default 24h)
        stubzones                      # accepted (CoreDNS 1.x): stub zones are the stub plugin here
        debug                          # accepted (CoreDNS 1.x): use the log plugin
        discover                       # SkyDNS's -discover: the endpoints follow the member list
        fallthrough [ZONES...]
        ttl SECONDS                    # default 3600
        min_ttl SECONDS                # default 30
        hostmaster ADDRESS             # default hostmaster.<zone>
        local NAME                     # what local.dns.<zone> answers as
        monitor [PATH]                 # health-monitored addresses, default /skydns/monitor/status
        stale_after DURATION           # default 10s: a silent member is left for another (0: never)
        zones ZONE...                  # more zones (as in some CoreDNS write-ups)
        upstream                       # accepted: external names always go through the server
    }
"""
from __future__ import annotations

import os

from zope.interface import alsoProvides, implementer

from skydns.clients.etcd.connection import Connection, parse_endpoint
from skydns.config.errors import CorefileError
from skydns.interfaces import IMonitoredSource, IPluginSetup, ISerialEdit
from skydns.plugin.etcd.copy import STALE_AFTER, RecordsCopy
from skydns.plugin.etcd.handler import Etcd
from skydns.plugin.etcd.monitor import MonitorCopy
from skydns.plugin.etcd.reader import Reader
from skydns.plugin.etcd.serial import ZoneSerial
from skydns.plugin.etcd.source import EtcdSource
from skydns.plugin.etcd.zonedata import ZoneData
from skydns.query.answers import Answers, Settings
from skydns.query.upstream import Upstream

PROPERTIES = ("path", "endpoint", "credentials", "tls", "fallthrough", "ttl", "min_ttl",
              "hostmaster", "local", "zones", "upstream", "monitor", "stale_after", "min-lease-ttl",
              "max-lease-ttl", "stubzones", "debug", "discover")


def system_ca() -> str | None:
    """The system's CA bundle, for ``tls`` without a CA (pyetcd needs a file to make a secure channel)."""
    import ssl

    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and os.access(candidate, os.R_OK):
            return candidate
    return None


class EtcdConfig:
    def __init__(self):
        self.zones: list[str] = []
        self.path = "/" + os.environ.get("SKYDNS_PATH_PREFIX", "skydns").strip("/")
        machines = os.environ.get("ETCD_MACHINES", "http://127.0.0.1:2379")
        self.endpoints = [m.strip() for m in machines.split(",") if m.strip()]
        self.username = os.environ.get("ETCD_USERNAME") or None
        self.password = os.environ.get("ETCD_PASSWORD") or None
        self.tls = (os.environ.get("ETCD_TLSPEM") or None, os.environ.get("ETCD_TLSKEY") or None,
                    os.environ.get("ETCD_CACERT") or None)
        self.fallthrough: list[str] | None = None
        self.ttl = 3600
        self.min_ttl = 30
        self.hostmaster = ""
        self.local: str | None = None
        self.monitor: str | None = None
        self.stale_after = STALE_AFTER
        self.discover = False
        self.min_lease_ttl = 0
        self.max_lease_ttl = 86400
        self.connection: Connection = Connection(())  # made by parse from the endpoints


@implementer(IPluginSetup)
class EtcdSetup:
    name = "etcd"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = ("etcd ${zones} {\n    path ${etcd_path}\n    endpoint ${etcd_endpoint}\n"
               "    monitor ${etcd_path}/monitor/status\n}")

    def parse(self, d, block):
        cfg = EtcdConfig()
        d.next()
        cfg.zones = d.zones(d.remaining_args())
        endpoint_tok = d.token
        for _ in d.block():
            prop = d.val
            args = d.remaining_args()
            if prop == "path":
                if len(args) != 1 or not args[0].startswith("/"):
                    raise d.error("path needs one absolute etcd key prefix, e.g. /skydns")
                cfg.path = "/" + args[0].strip("/")
            elif prop == "endpoint":
                d.expect_args(args, 1, None)
                cfg.endpoints = args
                endpoint_tok = d.token
            elif prop == "credentials":
                if len(args) != 2:
                    raise d.error("credentials needs USERNAME and PASSWORD")
                cfg.username, cfg.password = args
            elif prop == "tls":
                if len(args) > 3:
                    raise d.error("tls takes no argument (system CAs), CACERT, CERT KEY, or CERT KEY CACERT")
                args = [d.path(f) for f in args]
                for f in args:
                    if not os.access(f, os.R_OK):
                        raise d.error(f"tls: cannot read {f}")
                if len(args) in (0, 2):
                    ca = system_ca()
                    if ca is None:
                        raise d.error("tls without CACERT needs the system's CA bundle, which was not found")
                    args = args + [ca]
                cfg.tls = (None, None, args[0]) if len(args) == 1 else tuple(args)
            elif prop in ("min-lease-ttl", "max-lease-ttl"):
                d.expect_args(args, 1)
                setattr(cfg, prop.replace("-", "_"), int(d.duration_value(args[0], positive=False)))
            elif prop == "discover":
                d.expect_args(args, 0)
                cfg.discover = True
            elif prop in ("stubzones", "debug"):
                from twisted.logger import Logger

                Logger(namespace="skydns.plugin.etcd").info(
                    "etcd: '{prop}' is accepted and does nothing here ({why})", prop=prop,
                    why="stub zones are the stub plugin" if prop == "stubzones" else "the log plugin logs queries")
            elif prop == "fallthrough":
                cfg.fallthrough = d.zones(args)
            elif prop in ("ttl", "min_ttl"):
                d.expect_args(args, 1)
                setattr(cfg, prop, d.int_value(args[0], 0, 2**31 - 1, prop))
            elif prop == "hostmaster":
                d.expect_args(args, 1)
                cfg.hostmaster = args[0]
            elif prop == "local":
                d.expect_args(args, 1)
                cfg.local = d.zones(args)[0]
            elif prop == "zones":
                d.expect_args(args, 1, None)
                cfg.zones.extend(d.zones(args))
            elif prop == "monitor":
                if len(args) > 1 or (args and not args[0].startswith("/")):
                    raise d.error("monitor takes one absolute etcd key prefix, e.g. /skydns/monitor/status")
                cfg.monitor = "/" + (args[0] if args else "/skydns/monitor/status").strip("/")
            elif prop == "stale_after":
                d.expect_args(args, 1)
                value = d.duration_value(args[0], positive=False)
                if value and value < 1:
                    raise d.error(f"stale_after must be at least 1s (or 0 to never check), got {args[0]}")
                cfg.stale_after = value
            elif prop == "upstream":
                pass  # CoreDNS deprecated it: external names are always looked up through the server
            else:
                raise d.unknown_property(PROPERTIES)
        if d.next():
            raise d.once_error()
        if not cfg.zones:
            cfg.zones = list(block.zones)
        if cfg.min_lease_ttl > cfg.max_lease_ttl:
            raise d.error(f"min-lease-ttl {cfg.min_lease_ttl}s is above max-lease-ttl {cfg.max_lease_ttl}s")
        try:
            endpoints = tuple(parse_endpoint(u) for u in cfg.endpoints)
        except ValueError as e:
            raise _error_at(d, endpoint_tok, str(e)) from e
        cert, key, ca = cfg.tls
        cfg.connection = Connection(endpoints, cfg.username, cfg.password, cert, key, ca)
        return cfg

    def build(self, cfg: EtcdConfig, block, next):
        reactor = block.reactor
        copy = block.acquire(("etcd", cfg.connection, cfg.path, cfg.stale_after, cfg.discover),
                             lambda: RecordsCopy(cfg.connection, cfg.path, reactor, stale_after=cfg.stale_after,
                                                 discover=cfg.discover),
                             lambda c: c.stop())
        for z in cfg.zones:
            copy.watch_zone(z)
        block.on_startup(copy.start)
        monitor = None
        if cfg.monitor:
            monitor = block.acquire(("etcd-monitor", cfg.connection, cfg.monitor, cfg.stale_after),
                                    lambda: MonitorCopy(cfg.connection, cfg.monitor, reactor,
                                                        stale_after=cfg.stale_after),
                                    lambda c: c.stop())
            block.on_startup(monitor.start)
        settings = Settings(cfg.zones, cfg.ttl, cfg.min_ttl, cfg.hostmaster, cfg.local)
        reader = Reader(copy, monitor, cfg.ttl, cfg.min_lease_ttl, cfg.max_lease_ttl)
        serial = ZoneSerial(copy)  # what dnssec adds is known once it is built (it is in front)
        block.on_startup(lambda: serial.use(block.find(ISerialEdit)))
        source = EtcdSource(copy, cfg.zones, reader, monitor, ZoneData(copy, settings, serial))
        if monitor is not None:
            alsoProvides(source, IMonitoredSource)  # what the scanner probes and where it writes
        block.provide(source)  # the records, for cache, dnssec, stub, api (IRecordSource, IReadiness)
        block.provide(copy)  # its metrics (IMetrics), once however many blocks share it
        answers = Answers(source, settings, Upstream(block), ttl=reader.ttl, serial=serial)
        return Etcd(copy, answers, cfg.fallthrough, next)


def _error_at(d, token, message):
    return CorefileError(message, token.file, token.line, d.name)


setup = EtcdSetup()
