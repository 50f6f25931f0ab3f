from skydns.plugin.api.setup import setup

__all__ = ["setup"]
