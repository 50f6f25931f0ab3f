from skydns.plugin.acl.setup import setup

__all__ = ["setup"]
