from skydns.plugin.chaos.setup import setup

__all__ = ["setup"]
