"""dns64: AAAA records synthesized from A records for IPv6-only clients behind NAT64 (RFC 6147).

A complete third-party post-processing plugin, built only on skydns's public
API: it post-processes replies with :class:`skydns.query.reply.Reply`, looks names
up through the server with :class:`skydns.query.upstream.Upstream`, publishes a
Prometheus metric (:class:`skydns.interfaces.IMetrics`) and, with ``probe``,
a readiness condition (:class:`skydns.interfaces.IReadiness`).
"""
from skydns_dns64.setup import setup

__all__ = ["setup"]
