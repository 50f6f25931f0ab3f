from skydns.plugin.timeouts.setup import setup

__all__ = ["setup"]
