from skydns.plugin.update.setup import setup

__all__ = ["setup"]
