"""twistd plugin: makes ``twistd skydns`` exist.

Kept tiny on purpose: twistd imports every module in ``twisted/plugins`` to
discover plugins, so the server itself is only loaded when ``skydns`` is used.
"""
from twisted.application.service import ServiceMaker

skydns = ServiceMaker(
    "skydns",
    "skydns.tap",
    "DNS server for service discovery (etcd v3), configured by a Corefile",
    "skydns",
)
