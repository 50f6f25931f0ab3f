from skydns.plugin.log.setup import setup

__all__ = ["setup"]
