"""Corefile: ``forward FROM TO... { ... }`` (CoreDNS's syntax and defaults)::

    forward FROM TO... {
        except IGNORED_NAMES...
        force_tcp
        prefer_udp
        expire DURATION              # share one UDP socket per upstream until idle this long (default: one per query)
        max_fails INTEGER            # default 2; 0 never marks an upstream down
        tls CERT KEY CA
        tls_servername NAME
        policy random|round_robin|sequential    # default random
        health_check DURATION [no_rec] [domain NAME]   # default 0.5s
        max_concurrent MAX
        timeout DURATION             # skydns: per upstream try, default 2s (the whole query: 5s)
        no_rec                       # SkyDNS: never forward (SERVFAIL)
        ndots N                      # SkyDNS: forward only names with at least N labels
    }

TO is ``IP[:PORT]``, ``dns://IP[:PORT]``, ``tls://IP[:PORT]`` (DNS over TLS, port
853), or the path of a resolv.conf file whose nameservers are used.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from zope.interface import implementer

from skydns.dnsclient import Client, StreamPool, UDPPool, default_max_inflight
from skydns.interfaces import IPluginSetup
from skydns.nameservers import Health, Nameserver
from skydns.plugin.forward.forward import Forward

PROPERTIES = ("except", "force_tcp", "prefer_udp", "expire", "max_fails", "tls", "tls_servername",
              "policy", "health_check", "max_concurrent", "timeout", "no_rec", "ndots")
MAX_UPSTREAMS = 15
#: How long an idle DNS-over-TLS connection is kept when expire is not given (CoreDNS's default).
TLS_EXPIRE = 10.0


@dataclass
class ForwardConfig:
    zone: str = "."
    upstreams: list = field(default_factory=list)
    excepts: list = field(default_factory=list)
    force_tcp: bool = False
    prefer_udp: bool = False
    expire: float | None = None  # None: a fresh socket (and source port) per query
    max_fails: int = 2
    tls: tuple | None = None
    tls_servername: str | None = None
    policy: str = "random"
    health_check: float = 0.5
    health_recursion: bool = True
    health_domain: str = "."
    max_concurrent: int | None = None  # None: dnsclient.default_max_inflight()
    timeout: float = 2.0
    deadline: float = 5.0
    no_rec: bool = False
    targets: list = field(default_factory=list)  # (proto, host, port) as written; made Upstreams at build
    ndots: int = 0


def resolv_conf(path: str) -> list[str]:
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                out.append(parts[1])
    return out


def parse_upstream(d, text: str) -> list[tuple[str, str, int]]:
    """``(proto, host, port)`` for one TO argument."""
    proto, rest = "dns", text
    if "://" in text:
        proto, rest = text.split("://", 1)
        if proto not in ("dns", "tls"):
            raise d.error(f"unsupported upstream scheme '{proto}://' in '{text}' (dns:// or tls://)")
    default_port = 853 if proto == "tls" else 53
    try:
        ip = ipaddress.ip_address(rest.strip("[]"))
        return [(proto, str(ip), default_port)]
    except ValueError:
        pass
    host, port = rest, default_port
    if rest.startswith("["):
        host, _, p = rest[1:].partition("]")
        port = d.int_value(p.lstrip(":"), 1, 65535, "a port") if p else default_port
    elif rest.count(":") == 1:
        host, p = rest.split(":")
        port = d.int_value(p, 1, 65535, "a port")
    try:
        return [(proto, str(ipaddress.ip_address(host)), port)]
    except ValueError:
        pass
    if os.path.isfile(rest):
        try:
            servers = resolv_conf(rest)
        except OSError as e:
            raise d.error(f"cannot read {rest}: {e.strerror}") from e
        if not servers:
            raise d.error(f"no nameserver lines in {rest}")
        out = []
        for s in servers:
            out.extend(parse_upstream(d, s))
        return out
    raise d.error(f"'{text}' is not an IP address, IP:PORT, or a resolv.conf file")


@implementer(IPluginSetup)
class ForwardSetup:
    name = "forward"
    position = None

    def parse(self, d, block):
        cfg = ForwardConfig()
        d.next()
        args = d.remaining_args()
        if len(args) < 2:
            raise d.arg_error()
        cfg.zone = d.zones([args[0]])[0]
        targets = []
        for a in args[1:]:
            targets.extend(parse_upstream(d, a))
        if len(targets) > MAX_UPSTREAMS:
            raise d.error(f"more than {MAX_UPSTREAMS} upstreams")
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()

            def one(vals=vals):
                if len(vals) != 1:
                    raise d.arg_error()
                return vals[0]

            if prop == "except":
                if not vals:
                    raise d.arg_error()
                cfg.excepts = d.zones(vals)
            elif prop in ("force_tcp", "prefer_udp", "no_rec"):
                if vals:
                    raise d.arg_error()
                setattr(cfg, prop, True)
            elif prop == "expire":
                cfg.expire = d.duration_value(one())
            elif prop == "max_fails":
                cfg.max_fails = d.int_value(one(), 0, 1000, "max_fails")
            elif prop == "max_concurrent":
                cfg.max_concurrent = d.int_value(one(), 1, 10_000_000, "max_concurrent")
            elif prop == "ndots":
                cfg.ndots = d.int_value(one(), 0, 127, "ndots")
            elif prop == "timeout":
                cfg.timeout = d.duration_value(one())
                cfg.deadline = max(cfg.deadline, cfg.timeout)
            elif prop == "policy":
                if one() not in ("random", "round_robin", "sequential"):
                    raise d.error(f"unknown policy '{vals[0]}' (expected random, round_robin, sequential)")
                cfg.policy = vals[0]
            elif prop == "health_check":
                if not vals:
                    raise d.arg_error()
                cfg.health_check = d.duration_value(vals[0], positive=False)
                rest = vals[1:]
                while rest:
                    if rest[0] == "no_rec":
                        cfg.health_recursion = False
                        rest = rest[1:]
                    elif rest[0] == "domain" and len(rest) > 1:
                        cfg.health_domain = d.zones([rest[1]])[0]
                        rest = rest[2:]
                    else:
                        raise d.error(f"unknown health_check option '{rest[0]}' (expected no_rec, domain NAME)")
            elif prop == "tls":
                if len(vals) > 3:
                    raise d.arg_error()
                for f in vals:
                    if not os.access(f, os.R_OK):
                        raise d.error(f"tls: cannot read {f}")
                cfg.tls = tuple(vals)
            elif prop == "tls_servername":
                cfg.tls_servername = one()
            else:
                raise d.unknown_property(PROPERTIES)
        if cfg.force_tcp and cfg.prefer_udp:
            raise d.error("force_tcp and prefer_udp are mutually exclusive")
        if d.next():
            raise d.once_error()
        cfg.targets = targets
        return cfg

    def build(self, cfg, block, next):
        reactor = block.reactor
        tls_options = _tls_options(cfg) if any(p == "tls" for p, _, _ in cfg.targets) else None
        ups = []
        for proto, host, port in cfg.targets:
            tls = tls_options(host) if tls_options is not None and proto == "tls" else None
            up = Nameserver(host, port, proto, tls)
            if proto == "tls":
                # TLS authenticates the answers, so its connections are always kept (a handshake
                # per query would cost more than the query); expire (default 10s) closes idle ones.
                up.pools["tls"] = StreamPool(reactor, host, port, cfg.expire or TLS_EXPIRE, up.tls, cfg.timeout)
            elif cfg.expire:
                up.pools["udp"] = UDPPool(reactor, host, port, cfg.expire)
                up.pools["tcp"] = StreamPool(reactor, host, port, cfg.expire, None, cfg.timeout)
            ups.append(up)
        cfg.upstreams = ups
        client = Client(reactor)
        health = Health(client, reactor, cfg.health_check, cfg.max_fails, cfg.health_recursion, cfg.health_domain)
        if cfg.max_concurrent is None:
            cfg.max_concurrent = default_max_inflight()
        handler = Forward(cfg, client, health, reactor, next, server=block.name)
        block.on_shutdown(handler.stop)
        return handler


def _tls_options(cfg):
    """A function host -> Twisted client TLS options (CA, client certificate, server name)."""
    from twisted.internet import ssl

    ca = client_cert = None
    if cfg.tls:
        files = list(cfg.tls)
        if len(files) == 3:
            cert, key, ca_file = files
        elif len(files) == 2:
            cert, key, ca_file = files[0], files[1], None
        elif len(files) == 1:
            cert = key = None
            ca_file = files[0]
        else:
            cert = key = ca_file = None
        if ca_file:
            with open(ca_file, "rb") as f:
                ca = ssl.Certificate.loadPEM(f.read())
        if cert and key:
            with open(cert, "rb") as c, open(key, "rb") as k:
                client_cert = ssl.PrivateCertificate.loadPEM(c.read() + b"\n" + k.read())

    def for_host(host):
        name = cfg.tls_servername or host
        return ssl.optionsForClientTLS(name, trustRoot=ca, clientCertificate=client_cert)

    return for_host


setup = ForwardSetup()
