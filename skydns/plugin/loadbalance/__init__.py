from skydns.plugin.loadbalance.setup import setup

__all__ = ["setup"]
