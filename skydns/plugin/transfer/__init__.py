from skydns.plugin.transfer.setup import setup

__all__ = ["setup"]
