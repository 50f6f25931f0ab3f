from skydns.plugin.whoami.setup import setup

__all__ = ["setup"]
