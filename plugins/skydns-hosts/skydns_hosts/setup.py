"""Corefile: CoreDNS's ``hosts``::

    hosts [FILE [ZONES...]] {
        [INLINE]                 # lines in the hosts format: ADDRESS NAME [ALIASES...]
        ttl SECONDS              # default 3600
        no_reverse
        reload DURATION          # default 5s; 0 never
        fallthrough [ZONES...]
    }

FILE relative to the Corefile's folder; without one, only the inline lines are served
(CoreDNS reads /etc/hosts then; here the file is named when it is wanted).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.query.answers import Answers, Settings
from skydns_hosts.handler import Hosts
from skydns_hosts.hostsfile import Entries, parse
from skydns_hosts.source import HostsSource

PROPERTIES = ("ttl", "no_reverse", "reload", "fallthrough", "INLINE (ADDRESS NAME...)")


@dataclass
class HostsConfig:
    path: str | None = None
    zones: list[str] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)
    ttl: int = 3600
    reverse: bool = True
    reload: float = 5.0
    fallthrough: list[str] | None = None


@implementer(IPluginSetup)
class HostsSetup:
    name = "hosts"
    position = ("before", "etcd")  # where CoreDNS puts hosts: after cache and dnssec, before the backends
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "hosts {\n    127.0.0.9 h.${zone}\n    fallthrough\n}"

    def parse(self, d, block):
        cfg = HostsConfig()
        d.next()
        args = d.remaining_args()
        if args:
            cfg.path = d.path(args[0])
            cfg.zones = d.zones(args[1:])
        cfg.zones = cfg.zones or list(block.zones)
        for _ in d.block():
            prop = d.val
            if prop == "ttl":
                cfg.ttl = d.int_value(d.arg(), 0, 2**31 - 1, "ttl")
            elif prop == "no_reverse":
                d.args(0)
                cfg.reverse = False
            elif prop == "reload":
                cfg.reload = d.duration_value(d.arg(), positive=False)
            elif prop == "fallthrough":
                cfg.fallthrough = d.zones(d.remaining_args())
            else:
                line = " ".join([prop] + d.remaining_args())
                entries = parse([line])
                if entries.bad:
                    raise d.error(f"'{line}' is neither a property ({', '.join(PROPERTIES[:-1])}) nor a hosts "
                                  f"line: {entries.bad[0][1]}")
                cfg.inline.append(line)
        if d.next():
            raise d.once_error()
        return cfg

    def build(self, cfg: HostsConfig, block, next):
        inline: Entries = parse(cfg.inline, cfg.reverse)
        source = HostsSource(cfg.zones, cfg.path, inline, cfg.reload, cfg.reverse, block.reactor, block.clock,
                             block.name)
        block.provide(source)  # its records (IRecordSource: the cache follows it), readiness and metrics
        block.on_startup(source.start)
        block.on_shutdown(source.stop)
        answers = Answers(source, Settings(cfg.zones, ttl=cfg.ttl, min_ttl=cfg.ttl))
        return Hosts(answers, cfg.fallthrough, next)


setup = HostsSetup()
