"""A Kubernetes API server for kubewatch's tests: Services and EndpointSlices, listed and watched as the real
one does it (no API server can be installed here).

What it keeps faithful: objects shaped as the API returns them (lists without each item's kind and apiVersion,
watch events with them); one resourceVersion counter for everything; lists paged with ``limit`` and
``continue``; ``labelSelector`` (``k=v``, ``k!=v``, ``k``); watches as chunked JSON lines from a version
(``ADDED``/``MODIFIED``/``DELETED``), ``BOOKMARK`` events with ``allowWatchBookmarks``, ended after
``timeoutSeconds``; a version older than the last compaction answered ``410 Gone`` (a Status), or an ``ERROR``
event with a 410 Status to watches open at the compaction; bearer tokens (``401`` Status for an unknown one)
and per-resource refusals (``403``).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

KINDS = {"services": ("v1", "Service", "ServiceList", "/api/v1"),
         "endpointslices": ("discovery.k8s.io/v1", "EndpointSlice", "EndpointSliceList",
                            "/apis/discovery.k8s.io/v1")}


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def service(name: str, namespace: str = "default", *, external_ips=(), ingress=(), cluster_ip="10.96.0.10",
            ports=(("http", "TCP", 80),), labels=None, type_="ClusterIP", external_name=None) -> dict:
    """A Service as the API returns it (without resourceVersion: the server sets it)."""
    spec: dict = {"ports": [{"name": n, "protocol": p, "port": port, "targetPort": port} for n, p, port in ports],
                  "selector": {"app": name}, "clusterIP": cluster_ip,
                  "clusterIPs": [cluster_ip], "type": type_, "sessionAffinity": "None",
                  "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}
    if external_ips:
        spec["externalIPs"] = list(external_ips)
    if external_name:
        spec = {"type": "ExternalName", "externalName": external_name, "sessionAffinity": "None"}
    return {"metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                         "creationTimestamp": "2026-12-04T00:00:00Z", "labels": dict(labels or {"app": name})},
            "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in ingress]}
                       if ingress else {}}}


def endpoint_slice(service_name: str, namespace: str = "default", *, endpoints=(), ports=(("http", "TCP", 8080),),
                   suffix: str = "abcde") -> dict:
    """An EndpointSlice; ``endpoints`` are ``(ip, ready, hostname or None)``."""
    return {"metadata": {"name": f"{service_name}-{suffix}", "namespace": namespace, "uid": str(uuid.uuid4()),
                         "generateName": f"{service_name}-",
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": [dict({"addresses": [ip], "conditions": {"ready": ready, "serving": ready,
                                                                  "terminating": False},
                                "targetRef": {"kind": "Pod", "namespace": namespace, "name": f"pod-{i}"}},
                               **({"hostname": host} if host else {}))
                          for i, (ip, ready, host) in enumerate(endpoints)],
            "ports": [{"name": n, "protocol": p, "port": port} for n, p, port in ports]}


def _selects(selector: str, labels: dict) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v:
                return False
        elif term not in labels:
            return False
    return True


class FakeKubeAPI:
    def __init__(self, token: str = "kubewatch-token", pki: dict | None = None):
        """``pki`` (tests' ``make_pki``): serve HTTPS with its server certificate."""
        self.tokens = {token}
        self.forbidden: set[str] = set()  # resources answered 403
        self.rv = 1000
        self.compacted = 0  # versions at or below: 410 when a watch or a list page asks for them
        self.epoch = 0  # a compaction: watches open across it get an ERROR 410 event
        self.objects: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in KINDS}
        self.history: list[tuple[int, str, str, dict]] = []  # (version, resource, type, object)
        self.lock = threading.Condition()
        self.requests: list[str] = []
        self.watches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer._handle(self)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):  # a watcher gone: not news
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if pki is not None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(pki["server"], pki["server_key"])
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        with self.lock:
            self.epoch += 1  # every open watch ends
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- the cluster ----------------------------------------------------------------------------
    def apply(self, resource: str, obj: dict) -> dict:
        """Create or replace an object (ADDED or MODIFIED)."""
        api_version, kind, _, _ = KINDS[resource]
        with self.lock:
            self.rv += 1
            obj = json.loads(json.dumps(obj))
            obj["apiVersion"], obj["kind"] = api_version, kind
            obj["metadata"]["resourceVersion"] = str(self.rv)
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            event = "MODIFIED" if key in self.objects[resource] else "ADDED"
            self.objects[resource][key] = obj
            self.history.append((self.rv, resource, event, obj))
            self.lock.notify_all()
            return obj

    def delete(self, resource: str, namespace: str, name: str) -> None:
        with self.lock:
            obj = self.objects[resource].pop((namespace, name))
            self.rv += 1
            obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.rv)))
            self.history.append((self.rv, resource, "DELETED", obj))
            self.lock.notify_all()

    def compact(self) -> None:
        """Forget history up to now: older versions get 410, and open watches an ERROR event."""
        with self.lock:
            self.compacted = self.rv
            self.epoch += 1
            self.history = []
            self.lock.notify_all()

    def forget_before(self, version: int) -> None:
        """Versions before ``version`` are gone for new watches (open ones go on)."""
        with self.lock:
            self.compacted = version - 1

    def bookmark(self) -> None:
        """Move the version on (changes elsewhere in the cluster), and send BOOKMARK events to open watches."""
        with self.lock:
            self.rv += 5
            self.history.append((self.rv, "*", "BOOKMARK", {}))
            self.lock.notify_all()

    # -- HTTP -----------------------------------------------------------------------------------
    def _handle(self, h) -> None:
        url = urlsplit(h.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.requests.append(h.path)
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return self._send(h, 401, status(401, "Unauthorized", "Unauthorized"))
        parts = url.path.strip("/").split("/")
        resource = parts[-1]
        if resource not in KINDS or url.path.split(f"/{resource}")[0].split("/namespaces/")[0] != KINDS[resource][3]:
            return self._send(h, 404, status(404, "NotFound", "the server could not find the requested resource"))
        namespace = parts[-2] if "namespaces" in parts else None
        if resource in self.forbidden:
            return self._send(h, 403, status(403, "Forbidden", f'{resource} is forbidden: User "system:serviceaccount:'
                                                                f'dns:kubewatch" cannot list resource "{resource}"'))
        selector = q.get("labelSelector", "")
        if q.get("watch") in ("true", "1"):
            return self._watch(h, resource, namespace, selector, int(q.get("resourceVersion") or 0),
                               q.get("allowWatchBookmarks") == "true", float(q.get("timeoutSeconds") or 30))
        self._list(h, resource, namespace, selector, int(q.get("limit") or 0), q.get("continue", ""))

    def _matches(self, obj, namespace, selector) -> bool:
        meta = obj["metadata"]
        return (namespace is None or meta["namespace"] == namespace) and _selects(selector, meta.get("labels") or {})

    def _list(self, h, resource, namespace, selector, limit, token) -> None:
        api_version, _, list_kind, _ = KINDS[resource]
        with self.lock:
            if token:
                start, rv = (int(x) for x in token.split(":"))
                if rv <= self.compacted:
                    return self._send(h, 410, status(410, "Expired", "The provided continue parameter is too old"))
            else:
                start, rv = 0, self.rv
            items = [o for k, o in sorted(self.objects[resource].items()) if self._matches(o, namespace, selector)]
        page = items[start:start + limit] if limit else items[start:]
        meta: dict = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            meta["continue"] = f"{start + limit}:{rv}"
        self._send(h, 200, {"kind": list_kind, "apiVersion": api_version, "metadata": meta,
                            "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                                      for o in page]})

    def _watch(self, h, resource, namespace, selector, since, bookmarks, seconds) -> None:
        with self.lock:
            if since and since <= self.compacted:
                return self._send(h, 410, status(410, "Expired", f"too old resource version: {since} ({self.rv})"))
            self.watches += 1
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        deadline = time.monotonic() + seconds
        epoch = self.epoch
        try:
            while True:
                with self.lock:
                    if self.epoch != epoch:
                        self._chunk(h, {"type": "ERROR", "object": status(410, "Expired", "too old resource version")})
                        break
                    events = [(v, r, t, o) for v, r, t, o in self.history if v > since]
                    if not events:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self.lock.wait(min(left, 0.5))
                        continue
                for version, r, kind, obj in events:
                    since = version
                    if kind == "BOOKMARK":
                        if bookmarks:
                            api_version, k, _, _ = KINDS[resource]
                            self._chunk(h, {"type": "BOOKMARK", "object": {
                                "kind": k, "apiVersion": api_version,
                                "metadata": {"resourceVersion": str(version),
                                             "annotations": {"k8s.io/initial-events-end": "true"}}}})
                        continue
                    if r == resource and self._matches(obj, namespace, selector):
                        self._chunk(h, {"type": kind, "object": obj})
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except OSError:
            pass
        h.close_connection = True

    @staticmethod
    def _chunk(h, event: dict) -> None:
        data = json.dumps(event).encode() + b"\n"
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.flush()

    @staticmethod
    def _send(h, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
