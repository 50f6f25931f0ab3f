from skydns.plugin.any.setup import setup

__all__ = ["setup"]
