"""Corefile: ``loadbalance [round_robin|random_one|sticky]`` (default round_robin, as CoreDNS)."""
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.loadbalance.balance import LoadBalance

POLICIES = ("round_robin", "random_one", "sticky")


@implementer(IPluginSetup)
class LoadBalanceSetup:
    name = "loadbalance"
    position = None

    def parse(self, d, block):
        d.next()
        args = d.remaining_args()
        if len(args) > 1:
            raise d.arg_error()
        policy = args[0] if args else "round_robin"
        if policy not in POLICIES:
            raise d.error(f"unknown policy '{policy}' (expected {', '.join(POLICIES)})")
        for _ in d.block():
            raise d.unknown_property(())
        if d.next():
            raise d.once_error()
        return policy

    def build(self, policy, block, next):
        return LoadBalance(policy, next)


setup = LoadBalanceSetup()
