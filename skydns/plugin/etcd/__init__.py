from skydns.plugin.etcd.setup import setup

__all__ = ["setup"]
