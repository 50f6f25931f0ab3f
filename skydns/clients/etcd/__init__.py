"""etcd v3 client code shared by the etcd plugin, the records API and ``skydnsctl``.

``connection`` turns endpoint URLs, credentials and TLS files into blocking
pyetcd clients (call them from threads, never from the reactor); ``records``
reads and writes services in SkyDNS's key layout; ``watch`` is a watch on one
prefix that can be asked for progress (how the etcd plugin knows its copy current).
"""
