"""The web console over HTTP (no browser): login, sessions, CSRF, the views, live events, headers, secrets.

The browser tests are in test_console_browser.py; these check what a page cannot hide: what the server
answers to a request made by hand, with and without a session, from another origin, and what it renders.
"""
import http.client
import json
import re
import socket
import urllib.parse

import pytest
from twisted.internet import task

from helpers import free_port
from skydns import testing
from skydns.plugin.api.console import traffic as traffic_mod
from skydns.plugin.api.tokens import hashed
from skydns.testing.server import eventually

WRITER, READER = "writer-secret-0123456789", "reader-secret-9876543210"
ETCD_PASSWORD = "hunter2-etcd-password"


def corefile(data, port, extra=""):
    return (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  console\n"
            f"  token ops {hashed(WRITER)} write web.skydns.local.\n  token viewer {READER} read\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n  monitor {data.path}-monitor\n{extra} }}\n}}\n")


class Browser:
    """A client that keeps cookies and sends what a browser would (Origin on writes)."""

    def __init__(self, port):
        self.port = port
        self.cookie = None

    def request(self, method, path, body=None, headers=None, form=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith("skydns_console="):
                self.cookie = v.split(";")[0] if v.split(";")[0] != "skydns_console=" else None
        c.close()
        return r, data

    def login(self, token):
        r, _ = self.request("POST", "/skydns/console/login", form={"token": token})
        return r

    def json(self, view, **params):
        r, data = self.request("GET", f"/skydns/console/data/{view}?" + urllib.parse.urlencode(params))
        return r.status, json.loads(data)


@pytest.fixture
def console(tmp_path, data):
    port = free_port()
    with testing.serve(corefile(data, port), tmp_path) as srv:
        srv.http_port = port
        srv.data = data
        yield srv


def test_login_sets_a_session_cookie_that_scripts_cannot_read(console):
    b = Browser(console.http_port)
    r, page = b.request("GET", "/skydns/console/")
    assert r.status == 200 and b'name="token"' in page  # the login form
    r = b.login("not-a-token-at-all")
    assert r.status == 401 and b.cookie is None
    r, _ = b.request("POST", "/skydns/console/login", form={"token": READER},
                     headers={"Origin": "http://evil.example"})
    assert r.status == 403 and b.cookie is None  # another site's form cannot log the browser in
    r = b.login(READER)
    assert r.status == 303 and r.getheader("location") == "/skydns/console/"
    raw = [v for k, v in r.getheaders() if k.lower() == "set-cookie"][0].lower()
    assert "httponly" in raw and "samesite=strict" in raw and "path=/skydns" in raw
    r, page = b.request("GET", "/skydns/console/")
    assert r.status == 200 and b"console.js" in page
    assert b.json("session")[1]["token"] == "viewer"
    assert b.json("session")[1]["write"] is False


def test_every_response_has_a_content_security_policy(console):
    b = Browser(console.http_port)
    for path in ("/skydns/console/", "/skydns/console/static/console.js", "/skydns/console/data/zones"):
        r, _ = b.request("GET", path)
        csp = r.getheader("content-security-policy")
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.getheader("x-content-type-options") == "nosniff"
    # the page itself uses no inline script or style, which the policy would block
    b.login(READER)
    _, page = b.request("GET", "/skydns/console/")
    assert not re.search(rb"<script>|<style>| style=| on\w+=", page)
    r, _ = b.request("GET", "/skydns/console")
    assert r.status == 301 and r.getheader("location") == "/skydns/console/"


def test_views_need_a_session(console):
    b = Browser(console.http_port)
    for view in ("session", "zones", "children", "health", "instance", "traffic", "name"):
        assert b.json(view)[0] == 401
    r, _ = b.request("GET", "/skydns/console/events")
    assert r.status == 401


def test_writes_need_the_csrf_token_and_the_origin(console):
    b = Browser(console.http_port)
    b.login(WRITER)
    csrf = b.json("session")[1]["csrf"]
    body = json.dumps({"host": "10.0.0.7"})
    # the cookie alone (what a cross-site form would send, were SameSite not there) is no token
    r, _ = b.request("PUT", "/skydns/api/records/web", body)
    assert r.status == 401
    r, _ = b.request("PUT", "/skydns/api/records/web", body, {"X-CSRF-Token": "guess"})
    assert r.status == 401
    r, _ = b.request("PUT", "/skydns/api/records/web", body,
                     {"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
    assert r.status == 401
    origin = f"http://127.0.0.1:{console.http_port}"
    r, out = b.request("PUT", "/skydns/api/records/web", body, {"X-CSRF-Token": csrf, "Origin": origin})
    assert r.status == 200, out
    # the same token's scope: a name that is not its own
    r, out = b.request("PUT", "/skydns/api/records/db", body, {"X-CSRF-Token": csrf, "Origin": origin})
    assert r.status == 403 and b"may not change" in out
    # logging out ends the session: the cookie is worth nothing after it
    r, _ = b.request("POST", "/skydns/console/logout", headers={"X-CSRF-Token": csrf})
    assert r.status == 200
    b.cookie = "skydns_console=" + "x" * 10
    assert b.json("session")[0] == 401


def test_a_read_token_is_refused_writes(console):
    b = Browser(console.http_port)
    b.login(READER)
    csrf = b.json("session")[1]["csrf"]
    r, out = b.request("PUT", "/skydns/api/records/web", json.dumps({"host": "10.0.0.7"}), {"X-CSRF-Token": csrf})
    assert r.status == 403 and json.loads(out) == {"error": "token viewer is read-only"}


def test_browse_search_and_a_name_as_the_server_answers_it(console):
    d = console.data
    for i in range(250):
        d.put(f"web{i:03d}.east.skydns.local.", {"host": f"10.1.{i // 200}.{i % 200 + 1}"})
    d.put("db.skydns.local.", {"host": "10.2.0.1", "port": 5432})
    b = Browser(console.http_port)
    b.login(READER)
    assert eventually(lambda: b.json("children", name="east.skydns.local.")[1].get("total") == 250)
    code, out = b.json("children", name="east.skydns.local.", offset=200, limit=100)
    assert code == 200 and len(out["children"]) == 50 and out["children"][0]["name"] == "web200.east.skydns.local."
    assert out["children"][0]["record"] is True and out["children"][0]["below"] is False
    top = b.json("children", name="skydns.local.")[1]["children"]
    assert [(c["label"], c["record"], c["below"]) for c in top] == [("db", True, False), ("east", False, True)]
    code, out = b.json("search", q="web12")
    assert code == 200 and out["total"] == 10 and out["names"][0] == "web120.east.skydns.local."
    code, out = b.json("name", name="db.skydns.local.")
    assert code == 200 and out["records"] == [{"host": "10.2.0.1", "port": 5432}]
    by_type = {a["type"]: a for a in out["answers"]}
    assert by_type["A"]["answer"] == ["db.skydns.local. 3600 IN A 10.2.0.1"]
    assert by_type["SRV"]["answer"][0].endswith("SRV 10 100 5432 db.skydns.local.")
    assert by_type["TXT"]["rcode"] == "NOERROR" and by_type["TXT"]["answer"] == []
    assert b.json("children", name="example.org.")[0] == 400
    assert b.json("children", name="skydns.local.", limit=100000)[0] == 400


def test_the_history_of_a_name(console):
    b = Browser(console.http_port)
    b.login(WRITER)
    csrf = b.json("session")[1]["csrf"]
    for ip in ("10.0.0.1", "10.0.0.2"):
        r, _ = b.request("PUT", "/skydns/api/records/web", json.dumps({"host": ip}), {"X-CSRF-Token": csrf})
        assert r.status == 200
    out = b.json("name", name="web.skydns.local.")[1]
    assert [(h["author"], h["op"]) for h in out["history"]] == [("api:ops", "replace")] * 2
    assert out["may_change"] is True


def test_health_shows_status_since_and_scanner(console):
    d = console.data
    d.put("web.skydns.local.", {"host": "10.3.0.1"})
    d.put("api.skydns.local.", {"host": "10.3.0.2"})
    b = Browser(console.http_port)
    b.login(READER)
    assert eventually(lambda: b.json("health")[1]["total"] == 2)
    d.client.put(f"{d.path}-monitor/10.3.0.1", json.dumps({"status": "DOWN", "since": 1700000000, "by": "scanner-a"}))
    assert eventually(lambda: b.json("health", down="1")[1]["total"] == 1)
    row = b.json("health", down="1")[1]["rows"][0]
    assert row == {"ip": "10.3.0.1", "names": ["web.skydns.local."], "more": 0, "status": "DOWN",
                   "since": 1700000000, "by": "scanner-a"}
    assert b.json("health", q="api")[1]["rows"][0]["status"] == "UNKNOWN"


def test_instance_shows_readiness_the_copy_and_the_chains(console):
    b = Browser(console.http_port)
    b.login(READER)
    out = b.json("instance")[1]
    assert out["readiness"] and all(r["ready"] for r in out["readiness"])
    etcd = [s for s in out["states"] if s["name"] == "etcd"][0]
    items = dict(etcd["items"])
    assert items["endpoint"] == console.data.server.url and items["prefix"] == console.data.path
    assert isinstance(items["revision"], int) and items["revision"] > 0
    assert out["blocks"][0]["plugins"][-1] == "etcd" and "api" in out["blocks"][0]["plugins"]


def test_traffic_counts_queries_per_zone_and_rcode(tmp_path, data):
    port = free_port()
    with testing.serve(corefile(data, port), tmp_path, clock=task.Clock()) as srv:
        data.put("web.skydns.local.", {"host": "10.0.0.1"})
        assert eventually(lambda: srv.query("web.skydns.local.").answer)
        srv.query("web.skydns.local.")
        srv.query("nothing.skydns.local.")
        srv.advance(traffic_mod.STEP)  # a step closes: its counts become a point
        b = Browser(port)
        b.login(READER)
        out = b.json("traffic")[1]
        zones = out["points"][-1]["zones"]
        assert out["step"] == traffic_mod.STEP and len(out["points"]) == 1
        rcodes = zones["skydns.local."]["rcodes"]
        assert rcodes["NOERROR"] >= 2 and rcodes["NXDOMAIN"] >= 1  # (the wait above may have met NXDOMAIN)
        assert sum(rcodes.values()) == zones["skydns.local."]["queries"]
        p = zones["skydns.local."]
        assert 0 < p["p50"] <= p["p90"] <= p["p99"] < 1
        srv.advance(traffic_mod.STEP)
        assert b.json("traffic")[1]["points"][-1]["zones"] == {}  # counting starts again at zero


def test_traffic_counts_every_block_of_the_server(tmp_path, data):
    """The console sits in one block; the replies of the others (here whoami's) are counted too."""
    port = free_port()
    text = corefile(data, port) + ".:0 {\n whoami\n}\n"
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        data.put("web.skydns.local.", {"host": "10.0.0.1"})
        assert eventually(lambda: srv.query("web.skydns.local.").answer)
        for _ in range(3):
            assert srv.query("example.org.").rcode() == 0  # the same port: the "." block (whoami)
        srv.advance(traffic_mod.STEP)
        b = Browser(port)
        b.login(READER)
        zones = b.json("traffic")[1]["points"][-1]["zones"]
        assert set(zones) == {"skydns.local.", "."}
        assert zones["."]["queries"] == 3 and zones["."]["rcodes"] == {"NOERROR": 3}


def test_traffic_is_bounded():
    t = traffic_mod.Traffic()
    observe = t.observer()

    class Req:
        started = 0.0
        zone = ""

    reply = bytes(12)
    for i in range(traffic_mod.MAX_ZONES + 50):
        Req.zone = f"z{i}."
        observe(Req, reply)
    t.roll()
    zones = t.points[-1]["zones"]
    assert len(zones) == traffic_mod.MAX_ZONES + 1 and zones["other"]["queries"] == 50  # the rest: "other"
    assert zones["z0."] == {"queries": 1, "rcodes": {"NOERROR": 1}, "p50": traffic_mod.BUCKETS[-1],
                            "p90": traffic_mod.BUCKETS[-1], "p99": traffic_mod.BUCKETS[-1]}  # started at 0: slow
    for _ in range(traffic_mod.KEEP + 10):
        t.roll()
    assert len(t.points) == traffic_mod.KEEP


def test_a_change_is_announced_on_the_event_stream(console):
    b = Browser(console.http_port)
    b.login(READER)
    s = socket.create_connection(("127.0.0.1", console.http_port), timeout=5)
    s.sendall(f"GET /skydns/console/events HTTP/1.1\r\nHost: x\r\nCookie: {b.cookie}\r\n\r\n".encode())
    got = b""
    while b"event: hello" not in got:
        got += s.recv(4096)
    console.data.put("new.skydns.local.", {"host": "10.9.9.9"})
    while b"event: change" not in got:
        got += s.recv(4096)
    assert b"new.skydns.local." in got
    s.close()


def test_no_secret_is_rendered(tmp_path, data):
    """Tokens and etcd credentials appear in no page, view or event (the etcd endpoint does, without them)."""
    port = free_port()
    with testing.serve(corefile(data, port), tmp_path) as srv:
        b = Browser(port)
        b.login(WRITER)
        seen = b""
        for path in ("/skydns/console/", "/skydns/console/static/console.js"):
            seen += b.request("GET", path)[1]
        for view in ("session", "zones", "instance", "health", "traffic"):
            seen += json.dumps(b.json(view)[1]).encode()
        seen += json.dumps(b.json("name", name="web.skydns.local.")[1]).encode()
        assert srv is not None
    for secret in (WRITER, READER, hashed(WRITER), hashed(READER)[7:]):
        assert secret.encode() not in seen
    assert b.cookie.split("=", 1)[1].encode() not in seen  # the session id: only in the cookie
