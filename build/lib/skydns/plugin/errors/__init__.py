from skydns.plugin.errors.setup import setup

__all__ = ["setup"]
