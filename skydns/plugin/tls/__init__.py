from skydns.plugin.tls.setup import setup

__all__ = ["setup"]
