"""The records HTTP API and skydnsctl, against a real etcd and a running server."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import eventually, free_port
from helpers.ctl import ctl_run
from skydns import testing

TOKEN = "s3cret-token"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def api(tmp_path, data):
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n }}\n etcd {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        srv.api = f"http://127.0.0.1:{port}"
        srv.data = data
        yield srv


def call(srv, method, path, body=None, token=TOKEN, raw=None, query=""):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(srv.api + path + query, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def addrs(srv, name):
    r = srv.query(name, "A")
    return sorted(rr.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset)


def test_add_show_list_delete(api):
    assert call(api, "PUT", "/skydns/api/records/web", {"type": "A", "ips": ["10.0.0.1", "10.0.0.2"]}) == \
        (200, {"written": ["web.skydns.local."], "keys": 2})
    assert eventually(lambda: addrs(api, "web.skydns.local.") == ["10.0.0.1", "10.0.0.2"])
    assert call(api, "GET", "/skydns/api/records/web.skydns.local.") == \
        (200, {"name": "web.skydns.local.", "type": "A", "ips": ["10.0.0.1", "10.0.0.2"]})
    assert call(api, "PUT", "/skydns/api/records/svc", {"host": "10.0.0.9", "port": 8080})[0] == 200
    assert call(api, "PUT", "/skydns/api/records/web", {"type": "A", "ips": ["10.0.0.3"]})[0] == 200  # replace
    assert eventually(lambda: addrs(api, "web.skydns.local.") == ["10.0.0.3"])
    status, page = call(api, "GET", "/skydns/api/records")
    assert status == 200 and [r["name"] for r in page["records"]] == ["svc.skydns.local.", "web.skydns.local."]
    assert page["records"][0]["services"] == [{"host": "10.0.0.9", "port": 8080}]
    assert call(api, "DELETE", "/skydns/api/records/web") == (200, {"deleted": "web.skydns.local."})
    assert eventually(lambda: api.query("web.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN)
    assert call(api, "DELETE", "/skydns/api/records/web")[0] == 404
    assert call(api, "GET", "/skydns/api/records/web")[0] == 404


def test_pagination_and_prefix(api):
    for i in range(5):
        call(api, "PUT", f"/skydns/api/records/h{i}.east", {"type": "A", "ips": [f"10.1.0.{i}"]})
    call(api, "PUT", "/skydns/api/records/h0.west", {"type": "A", "ips": ["10.2.0.1"]})
    names, cursor = [], None
    while True:
        q = "?limit=2&prefix=east" + (f"&cursor={cursor}" if cursor else "")
        status, page = call(api, "GET", "/skydns/api/records", query=q)
        assert status == 200 and len(page["records"]) <= 2
        names += [r["name"] for r in page["records"]]
        cursor = page["next"]
        if not cursor:
            break
    assert names == [f"h{i}.east.skydns.local." for i in range(5)]


def test_seed_forms_cname_and_token_in_query(api):
    """The fork's curl lines: POST /skydns/api/NAME?token=..., and a cname alias."""
    req = urllib.request.Request(api.api + f"/skydns/api/cctv2?token={TOKEN}", method="POST",
                                 data=b'{"type":"A","ips":["192.168.10.1","192.168.10.2","192.168.10.3"]}',
                                 headers={"Content-Type": "application/json;charset=UTF-8"})
    assert urllib.request.urlopen(req).status == 200
    req = urllib.request.Request(api.api + f"/skydns/api/cctv2.skydns.local?token={TOKEN}", method="POST",
                                 data=b'{"type":"cname","alias":"tv1"}')
    assert urllib.request.urlopen(req).status == 200
    r = eventually(lambda: api.query("tv1.skydns.local.", "A").answer and api.query("tv1.skydns.local.", "A"))
    assert r.answer[0].to_text() == "tv1.skydns.local. 3600 IN CNAME cctv2.skydns.local."
    assert len(r.answer[1]) == 3


def test_lease_ttl(api):
    assert call(api, "PUT", "/skydns/api/records/tmp", {"type": "A", "ips": ["10.9.0.1"]}, query="?ttl=2")[0] == 200
    assert eventually(lambda: addrs(api, "tmp.skydns.local.") == ["10.9.0.1"])
    assert eventually(lambda: api.query("tmp.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN, timeout=10)


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_token_required(api, token):
    assert call(api, "GET", "/skydns/api/records", token=token)[0] == 401
    assert call(api, "PUT", "/skydns/api/records/x", {"type": "A", "ips": ["10.0.0.1"]}, token=token)[0] == 401


@pytest.mark.parametrize("path, body, raw, words", [
    ("/skydns/api/records/x", {"type": "A", "ips": ["10.0.0.1", "not-an-ip"]}, None, "bad IP address"),
    ("/skydns/api/records/x", {"type": "A", "ips": ["2001:db8::1"]}, None, "is not an IPv4 address"),
    ("/skydns/api/records/bad..name", {"type": "A", "ips": ["10.0.0.1"]}, None, "bad name"),
    ("/skydns/api/records/x", {"type": "HINFO", "ips": []}, None, "unknown type"),
    ("/skydns/api/records/x", {"host": "10.0.0.1", "port": "80"}, None, "field 'port' must be an integer"),
    ("/skydns/api/records/x", None, b"{not json", "body is not JSON"),
    ("/skydns/api/records/x", {"type": "cname"}, None, "needs \"alias\""),
])
def test_bad_bodies_are_400_and_write_nothing(api, path, body, raw, words):
    status, reply = call(api, "PUT", path, body, raw=raw)
    assert status == 400 and words in reply["error"], reply
    assert call(api, "GET", "/skydns/api/records")[1]["records"] == []


def test_openapi_served_and_in_docs(api):
    with urllib.request.urlopen(api.api + "/skydns/api/openapi.json") as r:
        served = json.loads(r.read())
    with open(os.path.join(ROOT, "docs", "api.openapi.json")) as f:
        assert json.load(f) == served
    assert set(served["paths"]) == {"/skydns/api/records", "/skydns/api/records/{name}", "/skydns/api",
                                    "/skydns/api/{name}"}


names = st.one_of(st.text(min_size=0, max_size=30), st.sampled_from(["web", "a.b", "x.skydns.local.", "..", "*"]))
bodies = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.text(max_size=20),
                                st.sampled_from(["A", "AAAA", "cname", "10.0.0.1", "::1"])),
                      lambda inner: st.one_of(st.lists(inner, max_size=4),
                                              st.dictionaries(st.sampled_from(["type", "ips", "alias", "host", "port",
                                                                               "ttl", "mail", "weight", "x"]), inner,
                                                              max_size=4)), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]), name=names, body=bodies,
       query=st.sampled_from(["", "?ttl=5", "?ttl=-1", "?ttl=x", "?limit=0", "?limit=abc", "?prefix=..", "?cursor=zz"]))
def test_fuzz_never_500(api, method, name, body, query):
    """Random methods, names, bodies and queries: a 2xx or 4xx with a JSON error, never a 500."""
    import urllib.parse
    for path in ("/skydns/api/records/" + urllib.parse.quote(name, safe=""), "/skydns/api/records",
                 "/skydns/api/" + urllib.parse.quote(name, safe="")):
        status, reply = call(api, method, path, body, query=query)
        assert status < 500, (method, path, body, query, status, reply)


@pytest.mark.parametrize("backend", ["api", "etcd"])
def test_skydnsctl(api, tmp_path, backend):
    """Every command through both back ends, human and --json output, exit codes."""
    where = ["--api", api.api, "--token", TOKEN] if backend == "api" else \
        ["--etcd", api.data.server.url, "--path", api.data.path]
    assert ctl_run(*where, "add", "web", "--ip", "10.0.0.1", "10.0.0.2")[0] == 0
    assert ctl_run(*where, "add", "alias", "--service", '{"host": "web.skydns.local"}')[0] == 0
    code, out, _ = ctl_run(*where, "list")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "TYPE", "VALUE"]
    assert ["web.skydns.local.", "A", "10.0.0.1,", "10.0.0.2"] in [line.split() for line in out.splitlines()]
    code, out, _ = ctl_run(*where, "--json", "show", "web")
    assert code == 0 and json.loads(out) == {"name": "web.skydns.local.", "type": "A", "ips": ["10.0.0.1", "10.0.0.2"]}
    code, out, _ = ctl_run(*where, "export")
    exported = tmp_path / "export.yaml"
    exported.write_text(out)
    assert ctl_run(*where, "delete", "web")[0] == 0
    code, _, err = ctl_run(*where, "show", "web")
    assert code == 3 and "no record named web.skydns.local." in err
    assert ctl_run(*where, "import", str(exported)) == (0, "imported 2 records\n", "")
    assert eventually(lambda: addrs(api, "web.skydns.local.") == ["10.0.0.1", "10.0.0.2"])
    code, _, err = ctl_run(*where, "add", "bad", "--ip", "300.1.1.1")
    assert code == 1 and "bad IP address" in err


def test_skydnsctl_command_line_errors(api):
    script = os.path.join(os.path.dirname(sys.executable), "skydnsctl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYDNS_API")}
    r = subprocess.run([script, "list"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--api URL" in r.stderr
    r = subprocess.run([script, "list"], capture_output=True, text=True,
                       env=dict(env, SKYDNS_API_ADDR=api.api.split("//")[1], SKYDNS_API_TOKEN="wrong-token"))
    assert r.returncode == 1 and "HTTP 401" in r.stderr
    r = subprocess.run([script, "list"], capture_output=True, text=True,
                       env=dict(env, SKYDNS_API_ADDR=api.api, SKYDNS_API_TOKEN=TOKEN))
    assert r.returncode == 0


def test_https(tmp_path, data):
    """With tls CERT KEY the API is served over HTTPS, the whole chain of CERT sent (a client that trusts
    the root verifies a certificate signed by an intermediate)."""
    import ssl

    from helpers import make_pki
    pki = make_pki(tmp_path)
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n  tls {pki['server_chain']} {pki['server_key']}\n"
            f" }}\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path):
        ctx = ssl.create_default_context(cafile=pki["ca"])
        req = urllib.request.Request(f"https://127.0.0.1:{port}/skydns/api/records",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, context=ctx) as r:
            assert json.loads(r.read()) == {"records": [], "next": None}


def test_the_forks_typed_bodies(api):
    """MX (mailHost), TXT (text), SRV (ports), NS (nsHost): stored as SkyDNS services, answered, shown back."""
    assert call(api, "POST", "/skydns/api/mail", {"type": "MX", "mailHost": "mx1", "priority": 5})[0] == 200
    assert call(api, "POST", "/skydns/api/note", {"type": "TXT", "text": "hello"})[0] == 200
    assert call(api, "POST", "/skydns/api/web", {"type": "SRV", "host": "10.0.0.7", "ports": [80, 443]})[0] == 200
    assert call(api, "POST", "/skydns/api/ns1", {"type": "NS", "nsHost": "10.0.0.53"})[0] == 200
    assert call(api, "GET", "/skydns/api/records/mail")[1] == {
        "name": "mail.skydns.local.", "type": "MX", "mailHost": "mx1.skydns.local.", "priority": 5}
    assert call(api, "GET", "/skydns/api/records/note")[1] == {"name": "note.skydns.local.", "type": "TXT",
                                                                "text": "hello"}
    assert call(api, "GET", "/skydns/api/records/web")[1] == {"name": "web.skydns.local.", "type": "SRV",
                                                               "host": "10.0.0.7", "ports": [80, 443]}
    assert eventually(lambda: api.query("mail.skydns.local.", "MX").answer)
    assert api.query("mail.skydns.local.", "MX").answer[0][0].exchange.to_text() == "mx1.skydns.local."
    assert sorted(rr.port for rr in api.query("web.skydns.local.", "SRV").answer[0]) == [80, 443]
    assert api.query("note.skydns.local.", "TXT").answer[0][0].strings == (b"hello",)
    ns = api.query("skydns.local.", "NS")
    assert [rr.target.to_text() for rr in ns.answer[0]] == ["ns1.ns.dns.skydns.local."]


def test_the_forks_paths(api):
    """GET, DELETE and PUT {"update": ...} on /skydns/api/NAME; GET /skydns/api lists."""
    assert call(api, "POST", "/skydns/api/cctv2", {"type": "A", "ips": ["192.168.10.1"]})[0] == 200
    assert call(api, "GET", "/skydns/api/cctv2") == (200, {"name": "cctv2.skydns.local.", "type": "A",
                                                           "ips": ["192.168.10.1"]})
    assert call(api, "PUT", "/skydns/api/cctv2", {"update": {"type": "A", "ips": ["192.168.10.2", "192.168.10.3"]}})[0] \
        == 200
    assert eventually(lambda: addrs(api, "cctv2.skydns.local.") == ["192.168.10.2", "192.168.10.3"])
    assert call(api, "PUT", "/skydns/api/cctv2", {"type": "A", "ips": ["10.0.0.1"]})[0] == 400  # not an update
    assert [r["name"] for r in call(api, "GET", "/skydns/api")[1]["records"]] == ["cctv2.skydns.local."]
    assert call(api, "DELETE", "/skydns/api/cctv2")[0] == 200
    assert call(api, "GET", "/skydns/api/cctv2")[0] == 404


def test_skydnsctl_takes_the_forks_apicmd_flags(api):
    """skydns-apicmd's forms: -list and -show NAME (or -show -domain NAME), with its output; -addr, -delete."""
    assert ctl_run("--api", api.api, "--token", TOKEN, "add", "qiyf-nginx-5.default.svc",
                   "--ip", "192.168.19.113")[0] == 0
    code, out, _ = ctl_run("-addr", api.api, "-token", TOKEN, "-list")
    assert code == 0 and out == "domain: qiyf-nginx-5.default.svc.skydns.local val: { type:A ips:[192.168.19.113] }\n"
    for argv in (["-show", "qiyf-nginx-5.default.svc"], ["-show", "-domain", "qiyf-nginx-5.default.svc"],
                 ["-domain", "qiyf-nginx-5.default.svc", "-show"], ["-domain=qiyf-nginx-5.default.svc", "-show"]):
        code, out, _ = ctl_run("-addr", api.api, "-token", TOKEN, *argv)
        assert code == 0 and out.startswith("domain: qiyf-nginx-5.default.svc.skydns.local val: { type:A"), out
    # a service in SkyDNS's own JSON prints as the fork prints its values, not as a Python dict
    assert ctl_run("--api", api.api, "--token", TOKEN, "add", "svc", "--service",
                   '{"host": "10.0.0.9", "port": 8080, "mail": true}')[0] == 0
    code, out, _ = ctl_run("-addr", api.api, "-token", TOKEN, "-domain", "svc", "-show")
    assert code == 0 and out == "domain: svc.skydns.local val: { services:[{host:10.0.0.9 port:8080 mail:true}] }\n", out
    assert ctl_run("-addr", api.api, "-token", TOKEN, "-domain", "qiyf-nginx-5.default.svc", "-delete")[0] == 0
    assert ctl_run("-addr", api.api, "-token", TOKEN, "-show", "qiyf-nginx-5.default.svc")[0] == 3
    code, _, err = ctl_run("-addr", api.api, "-show")
    assert code == 2 and "-show NAME" in err


# -- what an API client (with the token) can reach (issue 27) --------------------------------------------------

@pytest.mark.parametrize("name", ["config.", "10.0.0.1.status.monitor.", "web.example.org."])
def test_only_names_in_the_served_zones(api, name):
    """SkyDNS's config key, the monitor's status keys, another zone: 403, nothing written."""
    status, reply = call(api, "PUT", f"/skydns/api/records/{name}", {"host": "10.0.0.1"})
    assert status == 403 and "outside the served zones" in reply["error"]
    status, _ = call(api, "PUT", "/skydns/api/records/alias", {"type": "cname", "alias": "config."})
    assert status == 403  # nor through a CNAME body's alias
    assert api.data.client.get(f"{api.data.path}/config")[0] is None
    assert call(api, "GET", "/skydns/api/records")[1]["records"] == []


def test_the_store_refuses_reserved_keys_whatever_the_zones(tmp_path, data):
    """With the root zone served every name is inside: the store itself refuses SkyDNS's config key."""
    port = free_port()
    text = (f".:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n }}\n etcd . {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        srv.api = f"http://127.0.0.1:{port}"
        status, reply = call(srv, "PUT", "/skydns/api/records/config.", {"host": "10.0.0.1"})
        assert status == 400 and "is reserved" in reply["error"]
    assert data.client.get(f"{data.path}/config")[0] is None


def test_a_deeply_nested_body_is_400(api):
    status, reply = call(api, "PUT", "/skydns/api/records/x", raw=b"[" * 30000 + b"]" * 30000)  # within 64 KiB
    assert status == 400 and "nested too deeply" in reply["error"]  # never a 500


def test_store_errors_do_not_leak_etcds_words(tmp_path, etcd, data):
    """etcd unreachable: 503 saying so, without gRPC's text or etcd's address (those go to the log)."""
    from helpers import Proxy

    proxy = Proxy(etcd.port)
    proxy.block()
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n }}\n etcd {{\n"
            f"  path {data.path}\n  endpoint {proxy.url}\n }}\n}}\n")
    try:
        with testing.serve(text, tmp_path, wait=False) as srv:
            srv.api = f"http://127.0.0.1:{port}"
            status, reply = call(srv, "PUT", "/skydns/api/records/x", {"host": "10.0.0.1"})
            assert status == 503 and reply["error"].startswith("the store did not take the request")
            assert "127.0.0.1" not in reply["error"] and "grpc" not in reply["error"].lower()
    finally:
        proxy.close()


def test_reverse_names_stay_absolute(tmp_path, data):
    """A reverse name without its final dot is absolute (never in.addr.arpa.<zone>): through the API of a block
    serving in-addr.arpa, and through skydnsctl import of the example file on etcd; the PTR is answered."""
    port = free_port()
    text = (f"skydns.local:0 in-addr.arpa:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n }}\n etcd {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        srv.api = f"http://127.0.0.1:{port}"
        status, reply = call(srv, "PUT", "/skydns/api/records/125.1.0.10.in-addr.arpa",
                             {"host": "4.rails.staging.east.skydns.local"})
        assert status == 200 and reply["written"] == ["125.1.0.10.in-addr.arpa."], reply
        stored = lambda key: data.client.get(data.path + key)[0]  # noqa: E731
        assert stored("/arpa/in-addr/10/0/1/125") is not None
        ptr = lambda: srv.query("125.1.0.10.in-addr.arpa.", "PTR").answer  # noqa: E731
        assert eventually(lambda: ptr() and ptr()[0][0].target.to_text() == "4.rails.staging.east.skydns.local.")
        data.client.delete_prefix(data.path + "/")
        example = tmp_path / "services.yaml"
        example.write_text(open(os.path.join(ROOT, "services.example.yaml")).read())
        where = ["--etcd", data.server.url, "--path", data.path]
        code, out, err = ctl_run(*where, "import", str(example))
        assert code == 0, err
        assert stored("/arpa/in-addr/10/0/1/125") is not None
        assert stored("/local/skydns/arpa/in-addr/10/0/1/125") is None
        assert eventually(lambda: ptr() and ptr()[0][0].target.to_text() == "4.rails.staging.east.skydns.local.")
