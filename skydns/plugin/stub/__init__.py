from skydns.plugin.stub.setup import setup

__all__ = ["setup"]
