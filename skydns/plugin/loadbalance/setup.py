"""Corefile: ``loadbalance [round_robin|random_one|sticky|weighted FILE] { reload DURATION; prefer CIDR... }``.

round_robin is the default, as in CoreDNS; ``weighted FILE`` and its ``reload`` (default 30s,
0 never) and ``prefer`` are CoreDNS's; random_one and sticky are the Kubernetes fork's.
"""
import ipaddress
import os

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.loadbalance.balance import LoadBalance, Weights

POLICIES = ("round_robin", "random_one", "sticky", "weighted")


@implementer(IPluginSetup)
class LoadBalanceSetup:
    name = "loadbalance"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "loadbalance"

    def parse(self, d, block):
        d.next()
        args = d.remaining_args()
        policy = args[0] if args else "round_robin"
        if policy not in POLICIES:
            raise d.error(f"unknown policy '{policy}' (expected {', '.join(POLICIES)})")
        path = None
        if policy == "weighted":
            if len(args) != 2:
                raise d.error("weighted needs the weight file: loadbalance weighted FILE")
            path = d.path(args[1])
            if not os.access(path, os.R_OK):
                raise d.error(f"cannot read the weight file {path}")
            try:
                Weights(path)  # a malformed file is refused here, at its line
            except ValueError as e:
                raise d.error(str(e)) from e
        elif len(args) > 1:
            raise d.arg_error()
        reload = 30.0
        prefer: list[str] = []
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "reload":
                d.expect_args(vals, 1)
                reload = d.duration_value(vals[0], positive=False)
            elif prop == "prefer":
                d.expect_args(vals, 1, None)
                for v in vals:
                    try:
                        ipaddress.ip_network(v, strict=False)
                    except ValueError as e:
                        raise d.error(f"prefer: '{v}' is not a network in CIDR notation") from e
                prefer.extend(vals)
            else:
                raise d.unknown_property(("reload", "prefer"))
        if d.next():
            raise d.once_error()
        return policy, path, reload, prefer

    def build(self, cfg, block, next):
        policy, path, reload, prefer = cfg
        weights = None
        if path is not None:
            weights = Weights(path, block.clock, reload)
            block.on_shutdown(weights.stop)
        return LoadBalance(policy, next, weights=weights, prefer=prefer)


setup = LoadBalanceSetup()
