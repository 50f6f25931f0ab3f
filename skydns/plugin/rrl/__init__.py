from skydns.plugin.rrl.setup import setup

__all__ = ["setup"]
