from skydns.plugin.prometheus.setup import setup

__all__ = ["setup"]
