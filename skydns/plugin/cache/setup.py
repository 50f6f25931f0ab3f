"""Corefile: ``cache [TTL] [ZONES...] { ... }`` (CoreDNS's syntax and defaults)::

    cache [TTL] [ZONES...] {
        success CAPACITY [TTL] [MINTTL]     # default 9984, 3600, 5
        denial CAPACITY [TTL] [MINTTL]      # default 9984, 1800, 5
        prefetch AMOUNT [[DURATION] [PERCENTAGE%]]   # default 1m, 10%
        serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] |
                                verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]   # default 1h immediate 0 0
        serve_stale_policy prefer_positive
        servfail DURATION                   # default 5s, at most 5m, 0 disables
        disable success|denial [ZONES...]
        keepttl
        max_memory SIZE                     # default 32M: bytes of kept replies (skydns's own)
    }
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IChangeFeed, IPluginSetup
from skydns.plugin.cache.cache import Cache, CacheConfig

PROPERTIES = ("success", "denial", "prefetch", "serve_stale", "serve_stale_policy", "servfail", "disable",
              "keepttl", "max_memory")
MAX_TTL = 2**31 - 1


@implementer(IPluginSetup)
class CacheSetup:
    name = "cache"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "cache"

    def parse(self, d, block):
        cfg = CacheConfig()
        d.next()
        args = d.remaining_args()
        if args and args[0].isdigit():
            ttl = d.int_value(args.pop(0), 0, MAX_TTL, "TTL")
            cfg.success.max_ttl = cfg.denial.max_ttl = ttl
            if ttl < cfg.success.min_ttl:
                cfg.success.min_ttl = cfg.denial.min_ttl = ttl
        cfg.zones = d.zones(args) if args else list(block.zones)
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop in ("success", "denial"):
                d.expect_args(vals, 1, 3)
                p = getattr(cfg, prop)
                p.capacity = d.int_value(vals[0], 1, 100_000_000, "capacity")
                if len(vals) > 1:
                    p.max_ttl = d.int_value(vals[1], 0, MAX_TTL, "TTL")
                if len(vals) > 2:
                    p.min_ttl = d.int_value(vals[2], 0, MAX_TTL, "minimum TTL")
                if p.min_ttl > p.max_ttl:
                    raise d.error(f"{prop}: minimum TTL {p.min_ttl} is above the TTL {p.max_ttl}")
            elif prop == "prefetch":
                d.expect_args(vals, 1, 3)
                cfg.prefetch = d.int_value(vals[0], 1, 1_000_000, "prefetch amount")
                for v in vals[1:]:
                    if v.endswith("%"):
                        cfg.prefetch_pct = d.int_value(v[:-1], 1, 100, "prefetch percentage")
                    else:
                        cfg.prefetch_window = d.duration_value(v)
            elif prop == "serve_stale":
                d.expect_args(vals, 0, 5)
                cfg.serve_stale = d.duration_value(vals[0]) if vals else 3600.0
                rest = vals[1:]
                if rest:
                    if rest[0] not in ("immediate", "verify"):
                        raise d.error(f"unknown refresh mode '{rest[0]}' (expected immediate, verify)")
                    cfg.stale_mode = rest[0]
                    rest = rest[1:]
                    if cfg.stale_mode == "verify" and rest:
                        cfg.verify_timeout = d.duration_value(rest[0], positive=False)
                        rest = rest[1:]
                    elif cfg.stale_mode == "immediate" and len(rest) > 2:
                        raise d.arg_error()
                    if rest:
                        seconds = d.duration_value(rest[0], positive=False)
                        if seconds != int(seconds):
                            raise d.error("the response TTL must be whole seconds")
                        cfg.stale_ttl = int(seconds)
                        rest = rest[1:]
                    if rest:
                        cfg.failure_recheck = d.duration_value(rest[0], positive=False)
                        if cfg.failure_recheck > 300:
                            raise d.error("the failure recheck may not be more than 5m (RFC 8767)")
            elif prop == "serve_stale_policy":
                if vals != ["prefer_positive"]:
                    raise d.error("serve_stale_policy takes prefer_positive (the only policy)")
                cfg.prefer_positive = True
            elif prop == "servfail":
                d.expect_args(vals, 1)
                cfg.servfail = d.duration_value(vals[0], positive=False)
                if cfg.servfail > 300:
                    raise d.error("servfail cannot be more than 5m")
            elif prop == "disable":
                if not vals or vals[0] not in ("success", "denial"):
                    raise d.error("disable needs success or denial, then optional zones")
                getattr(cfg, vals[0]).disabled = d.zones(vals[1:]) if vals[1:] else ["."]
            elif prop == "keepttl":
                d.expect_args(vals, 0)
                cfg.keepttl = True
            elif prop == "max_memory":
                d.expect_args(vals, 1)
                cfg.max_memory = d.size_value(vals[0], 64 << 10, 1 << 40, "max_memory")
            else:
                raise d.unknown_property(PROPERTIES)
        if d.next():
            raise d.once_error()
        if cfg.prefer_positive and not cfg.serve_stale:
            raise d.error("serve_stale_policy needs serve_stale")
        return cfg

    def build(self, cfg, block, next):
        handler = Cache(cfg, block.clock, next)
        handler.block_name = block.name
        handler.follow(block.find(IChangeFeed))  # built before us: they are after us in the chain
        block.on_startup(lambda: handler.attach(block))
        block.on_shutdown(handler.detach)
        return handler


setup = CacheSetup()
