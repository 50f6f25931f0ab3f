from skydns.plugin.bind.setup import setup

__all__ = ["setup"]
