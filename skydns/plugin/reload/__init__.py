from skydns.plugin.reload.setup import setup

__all__ = ["setup"]
