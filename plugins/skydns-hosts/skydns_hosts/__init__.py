"""hosts: names and addresses from an /etc/hosts style file and inline lines (CoreDNS's ``hosts``)."""
from skydns_hosts.setup import setup

__all__ = ["setup"]
