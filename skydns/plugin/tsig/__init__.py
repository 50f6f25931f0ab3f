from skydns.plugin.tsig.setup import setup

__all__ = ["setup"]
