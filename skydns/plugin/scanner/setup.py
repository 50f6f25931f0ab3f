"""Corefile: ``scanner { ... }``: probe the addresses of the block's etcd zones, write their status keys.

::

    scanner {
        interval DURATION      # default 10s: how often each address is probed
        timeout DURATION       # default 2s
        rise N                 # default 2: successes in a row before DOWN becomes UP
        fall N                 # default 3: failures in a row before UP becomes DOWN
        max_inflight N         # default 256: probes at once
        lease DURATION         # default 10s: the TTL of this scanner's registration and status keys
        source_address IP      # probes leave from this address
        id NAME                # default HOSTNAME-PID: the scanner's name among the others
    }

It needs the block's ``etcd`` with ``monitor`` (whose status keys it writes).
A directive, not a separate command, because it reads best next to what it
serves: the same etcd, zones and monitor path as the block's ``etcd``, the
same watched copy (no second watch), reloads and metrics like every plugin;
a block on a spare port with just ``etcd`` and ``scanner`` is a scanner-only
process.
"""
from __future__ import annotations

import ipaddress

from zope.interface import implementer

from skydns.interfaces import IMonitoredSource, IPluginSetup
from skydns.plugin.scanner.scanner import Options, Scanner
from skydns.plugin.scanner.spec import Timing

PROPERTIES = ("interval", "timeout", "rise", "fall", "max_inflight", "lease", "source_address", "id")


@implementer(IPluginSetup)
class ScannerSetup:
    name = "scanner"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "scanner"

    def parse(self, d, block):
        d.next()
        d.args(0)
        t = {"interval": 10.0, "timeout": 2.0, "rise": 2, "fall": 3}
        opts = Options()
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if len(vals) != 1:
                raise d.arg_error() if prop in PROPERTIES else d.unknown_property(PROPERTIES)
            v = vals[0]
            if prop in ("interval", "timeout"):
                t[prop] = d.duration_value(v)
            elif prop in ("rise", "fall"):
                t[prop] = d.int_value(v, 1, 100, prop)
            elif prop == "max_inflight":
                opts.max_inflight = d.int_value(v, 1, 100_000, prop)
            elif prop == "lease":
                seconds = d.duration_value(v)
                if seconds < 1 or seconds != int(seconds):
                    raise d.error("lease must be whole seconds, at least 1s (an etcd lease TTL)")
                opts.lease = int(seconds)
            elif prop == "source_address":
                try:
                    opts.source_address = str(ipaddress.ip_address(v))
                except ValueError as e:
                    raise d.error(f"source_address {v} is not an IP address") from e
            elif prop == "id":
                if "/" in v:
                    raise d.error("id may not contain '/'")
                opts.member = v
            else:
                raise d.unknown_property(PROPERTIES)
        if d.next():
            raise d.once_error()
        opts.timing = Timing(t["interval"], t["timeout"], int(t["rise"]), int(t["fall"]))
        if opts.timing.timeout > opts.timing.interval:
            raise d.error("timeout is longer than interval")
        return opts

    def build(self, opts, block, next):
        source = block.require(IMonitoredSource, self.name, "the etcd plugin with 'monitor' (whose status keys "
                                                           "the scanner writes)")
        key = ("scanner", source.connection, source.status_prefix, opts.member)
        scanner = block.acquire(key, lambda: Scanner(block.reactor, source, opts, block.clock), lambda s: s.stop())
        if scanner.running:
            scanner.use(source, opts)  # a reload: the same scanner, lease and counters
        else:
            block.on_startup(scanner.start)
        block.provide(scanner)  # its metrics (IMetrics)
        return None


setup = ScannerSetup()
