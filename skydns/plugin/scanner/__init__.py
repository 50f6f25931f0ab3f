from skydns.plugin.scanner.setup import setup

__all__ = ["setup"]
