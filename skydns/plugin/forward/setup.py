"""Corefile: ``forward FROM TO... { ... }`` (CoreDNS's syntax, options and defaults)::

    forward FROM TO... {
        except IGNORED_NAMES...
        force_tcp
        prefer_udp
        expire DURATION              # stream connections: idle this long are closed (default 10s); with it,
                                     # UDP shares a socket per upstream too (default: a new socket per query)
        max_idle_conns INTEGER       # idle connections kept per upstream and transport (0: no limit)
        max_age DURATION             # a shared socket or connection is replaced once this old (0: never)
        read_timeout DURATION        # per upstream try, default 2s (skydns's ``timeout`` is the same)
        max_fails INTEGER            # default 2; 0 never marks an upstream down
        max_connect_attempts INTEGER # tries per query, default twice the upstreams; 0: until the deadline
        doh_method GET|POST          # https:// upstreams, default POST
        tls [CERT KEY] [CA]
        tls_servername NAME
        policy random|round_robin|sequential    # default random
        health_check DURATION [no_rec] [domain NAME]   # default 0.5s
        max_concurrent MAX
        next RCODE...                # an answer with RCODE goes to the next forward line instead
        next_on_nodata               # so does NOERROR without answers
        failover RCODE...            # an answer with RCODE moves to the next upstream
        failfast_all_unhealthy_upstreams
        source_address IP
        no_rec                       # SkyDNS: never forward (SERVFAIL)
        ndots N                      # SkyDNS: forward only names with at least N labels
    }

TO is ``IP[:PORT]``, ``dns://IP[:PORT]``, ``tls://IP[%SERVERNAME][:PORT]`` (DNS over TLS,
port 853), ``https://IP[%SERVERNAME][:PORT][/PATH]`` (DNS over HTTPS, port 443, path
/dns-query), or the path of a resolv.conf file whose nameservers are used. Several
``forward`` lines in one block are tried in the order written, each for its FROM.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

import dns.rcode
from zope.interface import implementer

from skydns.clients.dnsclient import Client, default_max_inflight
from skydns.clients.nameservers import Health, Nameserver
from skydns.clients.pools import StreamPool, UDPPool
from skydns.clients.portpool import PortPool
from skydns.interfaces import IPluginSetup
from skydns.plugin.forward.forward import Forward

PROPERTIES = ("except", "force_tcp", "prefer_udp", "expire", "max_idle_conns", "max_age", "read_timeout",
              "max_fails", "max_connect_attempts", "doh_method", "tls", "tls_servername", "policy",
              "health_check", "max_concurrent", "next", "next_on_nodata", "failover",
              "failfast_all_unhealthy_upstreams", "source_address", "timeout", "no_rec", "ndots")
MAX_UPSTREAMS = 15
#: How long an idle TCP, TLS or HTTPS connection is kept when expire is not given (CoreDNS's default).
STREAM_EXPIRE = 10.0
DEFAULT_PORTS = {"dns": 53, "tls": 853, "https": 443}
DOH_PATH = "/dns-query"


@dataclass(frozen=True)
class Target:
    """One TO as written: transport, address, port; the TLS server name and DoH path where given."""

    proto: str
    host: str
    port: int
    servername: str | None = None
    path: str = DOH_PATH


@dataclass
class ForwardConfig:
    zone: str = "."
    upstreams: list = field(default_factory=list)
    excepts: list = field(default_factory=list)
    force_tcp: bool = False
    prefer_udp: bool = False
    expire: float | None = None  # None: UDP from a new socket per query, streams kept STREAM_EXPIRE
    max_idle_conns: int = 0
    max_age: float = 0.0
    max_fails: int = 2
    max_connect_attempts: int | None = None  # None: twice the upstreams
    doh_method: str = "POST"
    tls: tuple | None = None
    tls_servername: str | None = None
    policy: str = "random"
    health_check: float = 0.5
    health_recursion: bool = True
    health_domain: str = "."
    max_concurrent: int | None = None  # None: dnsclient.default_max_inflight()
    timeout: float = 2.0
    deadline: float = 5.0
    next_rcodes: frozenset = frozenset()
    next_on_nodata: bool = False
    failover_rcodes: frozenset = frozenset()
    failfast: bool = False
    source_address: str | None = None
    no_rec: bool = False
    targets: list = field(default_factory=list)  # Targets as written; made Nameservers at build
    ndots: int = 0


def resolv_conf(path: str) -> list[str]:
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                out.append(parts[1])
    return out


def parse_upstream(d, text: str) -> list[Target]:
    """The Targets of one TO argument."""
    proto, rest = "dns", text
    if "://" in text:
        proto, rest = text.split("://", 1)
        if proto not in DEFAULT_PORTS:
            raise d.error(f"unsupported upstream scheme '{proto}://' in '{text}' (dns://, tls:// or https://)")
    default_port = DEFAULT_PORTS[proto]
    path = DOH_PATH
    if proto == "https" and "/" in rest.lstrip("["):
        rest, _, tail = rest.partition("/")
        path = "/" + tail
    servername = None
    if "%" in rest and proto != "dns":
        # tls://9.9.9.9%dns.quad9.net:853 -- the name the certificate must hold (CoreDNS's syntax)
        host_part, _, named = rest.partition("%")
        name, _, port_text = named.partition(":")
        if not name:
            raise d.error(f"empty server name after '%' in '{text}'")
        servername = name
        rest = host_part + (":" + port_text if port_text else "")
    try:
        ip = ipaddress.ip_address(rest.strip("[]"))
        return [Target(proto, str(ip), default_port, servername, path)]
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
        return [Target(proto, str(ipaddress.ip_address(host)), port, servername, path)]
    except ValueError:
        pass
    if proto == "dns" and os.path.isfile(rest):
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
    raise d.error(f"'{text}' is not an IP address, IP:PORT, or a resolv.conf file (host names are not resolved)")


def parse_rcodes(d, vals, what: str, allow_noerror: bool = True) -> frozenset:
    d.expect_args(vals, 1, None)
    out = set()
    for v in vals:
        try:
            code = int(dns.rcode.from_text(v.upper()))
        except Exception as e:
            raise d.error(f"{what}: unknown RCODE '{v}' (NXDOMAIN, SERVFAIL, REFUSED, ...)") from e
        if code == 0 and not allow_noerror:
            raise d.error(f"{what}: NOERROR cannot be used")
        out.add(code)
    return frozenset(out)


@implementer(IPluginSetup)
class ForwardSetup:
    name = "forward"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "forward . ${upstream}"

    def parse(self, d, block):
        configs = []
        while d.next():
            configs.append(self._parse_one(d))
        return configs

    def _parse_one(self, d) -> ForwardConfig:
        cfg = ForwardConfig()
        args = d.args(2, None)
        cfg.zone = d.zones([args[0]])[0]
        targets: list[Target] = []
        for a in args[1:]:
            targets.extend(parse_upstream(d, a))
        if len(targets) > MAX_UPSTREAMS:
            raise d.error(f"more than {MAX_UPSTREAMS} upstreams")
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()

            def one(vals=vals):
                d.expect_args(vals, 1)
                return vals[0]

            def flag(vals=vals):
                d.expect_args(vals, 0)
                return True

            if prop == "except":
                d.expect_args(vals, 1, None)
                cfg.excepts = d.zones(vals)
            elif prop in ("force_tcp", "prefer_udp", "no_rec", "next_on_nodata"):
                setattr(cfg, prop, flag())
            elif prop == "failfast_all_unhealthy_upstreams":
                cfg.failfast = flag()
            elif prop == "expire":
                cfg.expire = d.duration_value(one())
            elif prop == "max_idle_conns":
                cfg.max_idle_conns = d.int_value(one(), 0, 1_000_000, "max_idle_conns")
            elif prop == "max_age":
                cfg.max_age = d.duration_value(one(), positive=False)
            elif prop == "max_fails":
                cfg.max_fails = d.int_value(one(), 0, 1000, "max_fails")
            elif prop == "max_connect_attempts":
                cfg.max_connect_attempts = d.int_value(one(), 0, 1000, "max_connect_attempts")
            elif prop == "max_concurrent":
                cfg.max_concurrent = d.int_value(one(), 1, 10_000_000, "max_concurrent")
            elif prop == "ndots":
                cfg.ndots = d.int_value(one(), 0, 127, "ndots")
            elif prop in ("read_timeout", "timeout"):
                cfg.timeout = d.duration_value(one())
                cfg.deadline = max(cfg.deadline, cfg.timeout)
            elif prop == "doh_method":
                if one().upper() not in ("GET", "POST"):
                    raise d.error(f"doh_method {vals[0]}: expected GET or POST")
                cfg.doh_method = vals[0].upper()
            elif prop == "next":
                cfg.next_rcodes = parse_rcodes(d, vals, "next")
            elif prop == "failover":
                cfg.failover_rcodes = parse_rcodes(d, vals, "failover", allow_noerror=False)
            elif prop == "source_address":
                try:
                    cfg.source_address = str(ipaddress.ip_address(one()))
                except ValueError as e:
                    raise d.error(f"source_address {vals[0]} is not an IP address") from e
            elif prop == "policy":
                if one() not in ("random", "round_robin", "sequential"):
                    raise d.error(f"unknown policy '{vals[0]}' (expected random, round_robin, sequential)")
                cfg.policy = vals[0]
            elif prop == "health_check":
                d.expect_args(vals, 1, None)
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
                vals = [d.path(f) for f in d.expect_args(vals, 0, 3)]
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
        if cfg.tls_servername and any(t.servername for t in targets):
            raise d.error("tls_servername and a per-upstream server name (tls://IP%NAME) are mutually exclusive")
        if cfg.source_address:
            family = ":" in cfg.source_address
            if any((":" in t.host) != family for t in targets):
                raise d.error(f"source_address {cfg.source_address} is not of the same IP version as every upstream")
        cfg.targets = targets
        return cfg

    def build(self, configs, block, next):
        """One Forward per line, chained in the order written (the last in front of ``next``)."""
        handlers: list[Forward] = []
        for cfg in reversed(configs):
            next = self._build_one(cfg, block, next)
            handlers.insert(0, next)
        for h in handlers[1:]:
            block.provide(h)  # found by IMetrics like the first, which the chain announces
        return handlers[0]

    def _build_one(self, cfg, block, next):
        reactor = block.reactor
        tls_options = _tls_options(cfg) if any(t.proto != "dns" for t in cfg.targets) else None
        source = cfg.source_address
        # TCP, TLS and HTTPS connections are kept (queries pipelined on them); UDP shares one socket only
        # with expire, else a pool of short-lived sockets on random ports (forward's README).
        stream_expire = cfg.expire or STREAM_EXPIRE
        ups = []
        for t in cfg.targets:
            tls = tls_options(t.servername or cfg.tls_servername or t.host) if tls_options and t.proto != "dns" \
                else None
            name = f"[{t.host}]:{t.port}" if ":" in t.host else f"{t.host}:{t.port}"
            up = Nameserver(t.host, t.port, t.proto, tls, name=name + (t.path if t.proto == "https" else ""))
            up.source = source
            if t.proto == "https":
                from skydns.clients.dohclient import DoHPool

                up.pools["https"] = DoHPool(reactor, t.host, t.port, t.path, tls, cfg.doh_method, stream_expire,
                                            cfg.max_idle_conns, source, cfg.timeout)
            elif t.proto == "tls":
                up.pools["tls"] = StreamPool(reactor, t.host, t.port, stream_expire, tls, cfg.timeout, source,
                                             cfg.max_age)
            else:
                up.pools["tcp"] = StreamPool(reactor, t.host, t.port, stream_expire, None, cfg.timeout, source,
                                             cfg.max_age)
                if cfg.expire:
                    up.pools["udp"] = UDPPool(reactor, t.host, t.port, cfg.expire, source, cfg.max_age)
                else:
                    up.pools["udp"] = PortPool(reactor, t.host, t.port, source=source)
            ups.append(up)
        cfg.upstreams = ups
        client = Client(reactor)
        health = Health(client, reactor, cfg.health_check, cfg.max_fails, cfg.health_recursion, cfg.health_domain)
        if cfg.max_concurrent is None:
            cfg.max_concurrent = default_max_inflight()
        if cfg.max_connect_attempts is None:
            cfg.max_connect_attempts = 2 * len(ups)
        handler = Forward(cfg, client, health, reactor, next, server=block.name, block=block)
        block.on_shutdown(handler.stop)
        return handler


def _tls_options(cfg):
    """A function server name -> Twisted client TLS options (CA, client certificate)."""
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

    def for_name(name):
        return ssl.optionsForClientTLS(name, trustRoot=ca, clientCertificate=client_cert,
                                       acceptableProtocols=None)

    return for_name


setup = ForwardSetup()
