from skydns.plugin.cache.setup import setup

__all__ = ["setup"]
