"""Outgoing clients: DNS upstreams (UDP, TCP, TLS, HTTPS) and etcd."""
