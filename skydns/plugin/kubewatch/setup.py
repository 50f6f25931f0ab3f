"""Corefile: ``kubewatch [ZONE] { ... }``: keep the records of a Kubernetes cluster's Services in etcd.

::

    kubewatch [ZONE] {                  # names NAME.NAMESPACE.svc.ZONE (default: the block's first zone)
        kubeconfig FILE [CONTEXT]       # or endpoint URL, token_file FILE, ca FILE; default: in the cluster
        endpoint URL
        token_file FILE
        ca FILE
        serviceaccount DIR              # in the cluster: default /var/run/secrets/kubernetes.io/serviceaccount
        namespaces NS...                # only these (default: all)
        exclude_namespaces NS...
        labels SELECTOR                 # a label selector for Services: app=web,tier!=cache
        cluster_ip                      # also answer ClusterIPs
        lease DURATION                  # default 20s: how long a killed watcher's records stay
        members PATH                    # default <etcd path>-kubewatch/members: where watchers meet
        id NAME                         # default HOSTNAME-PID
    }

A directive beside the ``scanner``: it needs the block's ``etcd`` (where it writes, under
that plugin's path), and several servers running it share the Services among them.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from zope.interface import implementer

from skydns.interfaces import IPluginSetup, IWritableSource
from skydns.plugin.kubewatch.credentials import Credentials, CredentialsError, from_kubeconfig, in_cluster
from skydns.plugin.kubewatch.watcher import KubeWatch
from skydns.query.zones import in_zones

PROPERTIES = ("kubeconfig", "endpoint", "token_file", "ca", "serviceaccount", "namespaces", "exclude_namespaces",
              "labels", "cluster_ip", "lease", "members", "id")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_SELECTOR = re.compile(r"[A-Za-z0-9_./=!,()\s-]+\Z")


@dataclass
class Options:
    zone: str = ""
    kubeconfig: str | None = None
    context: str | None = None
    endpoint: str | None = None
    token_file: str | None = None
    ca: str | None = None
    serviceaccount: str | None = None
    namespaces: list[str] = field(default_factory=list)
    exclude: set[str] = field(default_factory=set)
    labels: str = ""
    cluster_ip: bool = False
    lease: int = 20
    members: str = ""
    member: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    def credentials(self) -> Credentials:
        if self.kubeconfig:
            return from_kubeconfig(self.kubeconfig, self.context)
        if self.endpoint:
            return Credentials(self.endpoint.rstrip("/"), ca_file=self.ca, token_file=self.token_file)
        return in_cluster(self.serviceaccount) if self.serviceaccount else in_cluster()


@implementer(IPluginSetup)
class KubeWatchSetup:
    name = "kubewatch"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "kubewatch ${zone} {\n    endpoint http://127.0.0.1:1\n}"

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.args(0, 1))
        o = Options(zone=zones[0] if zones else block.zones[0])
        if in_zones(o.zone, block.zones) is None:
            raise d.error(f"zone {o.zone} is not served by this server block")
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "kubeconfig":
                d.expect_args(vals, 1, 2)
                o.kubeconfig, o.context = d.path(vals[0]), (vals[1] if len(vals) > 1 else None)
            elif prop == "endpoint":
                d.expect_args(vals, 1)
                if not vals[0].startswith(("http://", "https://")):
                    raise d.error(f"endpoint {vals[0]} must start with https:// (or http://)")
                o.endpoint = vals[0]
            elif prop in ("token_file", "ca", "serviceaccount"):
                d.expect_args(vals, 1)
                setattr(o, prop, d.path(vals[0]))
            elif prop in ("namespaces", "exclude_namespaces"):
                d.expect_args(vals, 1, None)
                for ns in vals:
                    if not _NAMESPACE.match(ns) or len(ns) > 63:
                        raise d.error(f"{ns!r} is not a namespace name")
                if prop == "namespaces":
                    o.namespaces += vals
                else:
                    o.exclude.update(vals)
            elif prop == "labels":
                d.expect_args(vals, 1)
                if not _SELECTOR.match(vals[0]):
                    raise d.error(f"labels {vals[0]!r} is not a label selector (app=web,tier!=cache)")
                o.labels = vals[0]
            elif prop == "cluster_ip":
                d.expect_args(vals, 0)
                o.cluster_ip = True
            elif prop == "lease":
                d.expect_args(vals, 1)
                seconds = d.duration_value(vals[0])
                if seconds < 2 or seconds != int(seconds):
                    raise d.error("lease must be whole seconds, at least 2s (an etcd lease TTL)")
                o.lease = int(seconds)
            elif prop == "members":
                d.expect_args(vals, 1)
                if not vals[0].startswith("/"):
                    raise d.error("members must be an etcd key prefix starting with '/'")
                o.members = vals[0]
            elif prop == "id":
                d.expect_args(vals, 1)
                if "/" in vals[0]:
                    raise d.error("id may not contain '/'")
                o.member = vals[0]
            else:
                raise d.unknown_property(PROPERTIES)
        if d.next():
            raise d.once_error()
        if o.kubeconfig and (o.endpoint or o.token_file or o.ca):
            raise d.error("give either kubeconfig or endpoint (with token_file and ca), not both")
        return o

    def build(self, o: Options, block, next):
        source = block.require(IWritableSource, self.name, "the etcd plugin (where the records are written)")
        if in_zones(o.zone, source.zones) is None:
            raise block.error(self.name, f"zone {o.zone} is not one of etcd's ({', '.join(source.zones)})")
        try:
            credentials = o.credentials()
        except CredentialsError as e:
            raise block.error(self.name, str(e)) from e
        o.members = o.members or f"{source.prefix.rstrip('/')}-kubewatch/members"
        key = ("kubewatch", source.connection, source.prefix, o.zone, o.member, repr(o))
        watch = block.acquire(key, lambda: KubeWatch(block.reactor, block.clock, credentials, source, o),
                              lambda w: w.stop())
        if not watch.running:
            block.on_startup(watch.start)
        block.provide(watch)  # its metrics and readiness
        return None


setup = KubeWatchSetup()
