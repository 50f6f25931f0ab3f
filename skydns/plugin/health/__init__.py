from skydns.plugin.health.setup import setup

__all__ = ["setup"]
