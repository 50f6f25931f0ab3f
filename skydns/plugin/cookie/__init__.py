from skydns.plugin.cookie.setup import setup

__all__ = ["setup"]
