"""kubewatch: the records of a Kubernetes cluster's Services, kept in etcd (the fork's skydns-kubeapi)."""
from skydns.plugin.kubewatch.setup import setup

__all__ = ["setup"]
