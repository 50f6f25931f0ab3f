from skydns.plugin.dnssec.setup import setup

__all__ = ["setup"]
