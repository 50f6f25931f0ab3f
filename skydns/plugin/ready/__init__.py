from skydns.plugin.ready.setup import setup

__all__ = ["setup"]
