"""skydns: a DNS server for service discovery on etcd v3, built like CoreDNS on Twisted."""

__version__ = "0.1.0"
