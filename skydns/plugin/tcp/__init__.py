from skydns.plugin.tcp.setup import setup

__all__ = ["setup"]
