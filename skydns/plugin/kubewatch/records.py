"""A Kubernetes Service (and its EndpointSlices) as the SkyDNS services that answer for it.

``NAME.NAMESPACE.svc.ZONE`` answers:

* for a Service with addresses reachable from outside: its load balancer's ingress
  addresses (``status.loadBalancer.ingress``: an IP, or a hostname as a CNAME), its
  ``spec.externalIPs``, and, with ``cluster_ip``, its ClusterIPs (the fork recorded the
  external ones);
* for a headless Service (``clusterIP: None``): its ready endpoints (EndpointSlices whose
  ``kubernetes.io/service-name`` label names it; an endpoint whose ``ready`` condition is
  false is left out, one without the condition counts as ready), each also under its own
  name ``HOSTNAME.NAME.NAMESPACE.svc.ZONE`` (its ``hostname``, or its address with dashes);
* for an ``ExternalName`` Service: a CNAME to that name.

A named port is an SRV record ``_PORT._PROTO.NAME.NAMESPACE.svc.ZONE`` (protocol in lower
case) whose target is the Service's name; for a headless Service one per ready endpoint,
whose target names that endpoint's address (given in the additional section), as SkyDNS
answers a service whose host is an address.
Each record is a key of its own below its name (``x`` and a number from what it holds),
so records come and go one by one; an ExternalName's CNAME is the name's own key.
"""
from __future__ import annotations

import ipaddress
import zlib

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Record = tuple[str, "str | None", dict]  # (name, leaf or None for the name's own key, SkyDNS service)


def _leaf(*parts) -> str:
    return f"x{zlib.crc32('|'.join(map(str, parts)).encode())}"


def _ip(text) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return None


def base_name(svc: dict, zone: str) -> str:
    meta = svc.get("metadata") or {}
    return f"{meta.get('name', '').lower()}.{meta.get('namespace', '').lower()}.svc.{zone}"


def records(svc: dict, slices: list[dict], zone: str, cluster_ip: bool = False) -> list[Record]:
    """The records of ``svc`` (a Service object as the API gives it) in ``zone`` (absolute)."""
    spec = svc.get("spec") or {}
    base = base_name(svc, zone)
    out: list[Record] = []
    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").rstrip(".").lower()
        return [(base, None, {"host": target})] if target else []  # its own key: a CNAME query is exact
    if spec.get("clusterIP") == "None":
        return _headless(spec, slices, base)
    hosts: list[str] = []
    for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = _ip(ingress.get("ip")) or str(ingress.get("hostname") or "").rstrip(".").lower()
        if host:
            hosts.append(host)
    hosts += [ip for ip in map(_ip, spec.get("externalIPs") or []) if ip]
    if cluster_ip:
        hosts += [ip for ip in map(_ip, spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip]
    hosts = list(dict.fromkeys(hosts))
    for host in hosts:
        out.append((base, _leaf(host), {"host": host}))
    if hosts:
        for port in spec.get("ports") or []:
            if port.get("name") and port.get("port"):
                srv = f"_{port['name'].lower()}._{str(port.get('protocol') or 'TCP').lower()}.{base}"
                out.append((srv, _leaf(base, port["port"]), {"host": base, "port": int(port["port"])}))
    return out


def _headless(spec: dict, slices: list[dict], base: str) -> list[Record]:
    out: list[Record] = []
    for s in slices:
        ports: dict[tuple[str, str], int] = {}  # a slice's ports are its endpoints'
        for port in s.get("ports") or []:
            if port.get("name") and port.get("port"):
                ports[(port["name"].lower(), str(port.get("protocol") or "TCP").lower())] = int(port["port"])
        for endpoint in s.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue  # not ready: not answered (ready unset counts as ready, as kube-proxy reads it)
            for address in endpoint.get("addresses") or []:
                ip = _ip(address)
                if ip is None:
                    continue
                host = str(endpoint.get("hostname") or ip.replace(".", "-").replace(":", "-")).lower()
                name = f"{host}.{base}"
                out.append((name, _leaf(ip), {"host": ip}))
                for (pname, proto), number in ports.items():  # an address, so the service's A answer stays plain
                    out.append((f"_{pname}._{proto}.{base}", _leaf(ip, number), {"host": ip, "port": number}))
    return list({(n, leaf): (n, leaf, v) for n, leaf, v in out}.values())


def service_of_slice(s: dict) -> tuple[str, str] | None:
    """``(namespace, service name)`` an EndpointSlice belongs to (its label), or None."""
    meta = s.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return (meta.get("namespace", ""), name) if name else None
