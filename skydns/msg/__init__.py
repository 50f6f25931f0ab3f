"""The SkyDNS record: a service as stored in etcd, and how keys map to names."""
