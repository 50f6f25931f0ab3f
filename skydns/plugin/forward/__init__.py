from skydns.plugin.forward.setup import setup

__all__ = ["setup"]
