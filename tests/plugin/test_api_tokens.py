"""The records API's tokens: named, scoped to names, read or write, kept as hashes, guessing slowed down."""
import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from helpers import BIN, env, free_port
from helpers.ctl import ctl_run
from skydns import config, testing
from skydns.config.errors import CorefileError
from skydns.plugin.api.tokens import FREE_FAILURES, hashed

CI, RO, OPS = "ci-secret-0123456789", "read-only-secret-42", "ops-secret-from-the-file"


def call(port, method, path, token, body=None, scheme="http", context=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}/skydns/api{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), e.headers


@pytest.fixture
def scoped(tmp_path, data):
    port = free_port()
    (tmp_path / "tokens").write_text(f"# name secret access names\nops {hashed(OPS)} write\n")
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n"
            f"  token ci {hashed(CI)} write web.skydns.local. jobs.skydns.local.\n"
            f"  token viewer {RO} read\n  tokens {tmp_path / 'tokens'}\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        srv.api_port = port
        srv.data = data
        yield srv


A = {"type": "A", "ips": ["10.0.0.1"]}


def test_scopes(scoped):
    port = scoped.api_port
    assert call(port, "PUT", "/records/web", CI, A)[0] == 200
    assert call(port, "PUT", "/records/x.web", CI, A)[0] == 200  # below its name
    code, body, _ = call(port, "PUT", "/records/db", CI, A)
    assert code == 403 and body == {"error": "token ci may not change db.skydns.local."}
    assert call(port, "DELETE", "/records/db", CI)[0] == 403
    assert call(port, "PUT", "/records/db", OPS, A)[0] == 200  # no names: every served name
    assert call(port, "DELETE", "/records/db", CI)[0] == 403
    code, body, _ = call(port, "PUT", "/records/web", RO, A)
    assert code == 403 and body == {"error": "token viewer is read-only"}
    assert call(port, "DELETE", "/records/web", RO)[0] == 403
    assert call(port, "GET", "/records/db", RO)[0] == 200  # every token reads every name
    assert sorted(r["name"] for r in call(port, "GET", "/records", CI)[1]["records"]) == [
        "db.skydns.local.", "web.skydns.local.", "x.web.skydns.local."]
    # a CNAME body writes its alias: the alias must be the token's too
    assert call(port, "PUT", "/records/jobs", CI, {"type": "cname", "alias": "db.skydns.local."})[0] == 403
    assert call(port, "PUT", "/records/jobs", CI, {"type": "cname", "alias": "w2.web.skydns.local."})[0] == 200


def test_writes_are_noted_with_the_tokens_name(scoped):
    port = scoped.api_port
    assert call(port, "PUT", "/records/web", CI, A)[0] == 200
    assert call(port, "PUT", "/records/web", OPS, {"type": "A", "ips": ["10.0.0.2"]})[0] == 200
    code, out, err = ctl_run("--etcd", scoped.data.server.url, "--path", scoped.data.path, "--json", "history", "web")
    assert code == 0, err
    assert [e["author"] for e in json.loads(out)["entries"]] == ["api:ci", "api:ops"]


def test_guessing_is_slowed_down(scoped):
    port = scoped.api_port
    for _ in range(FREE_FAILURES):
        assert call(port, "GET", "/records", "guess")[0] == 401
    assert call(port, "GET", "/records", "guess")[0] == 401  # one too many: refused for a second
    code, body, headers = call(port, "GET", "/records", RO)  # even the right token waits
    assert code == 429 and int(headers["Retry-After"]) >= 1
    time.sleep(1.2)
    assert call(port, "GET", "/records", RO)[0] == 200  # then it is let in, and the count starts again
    assert call(port, "GET", "/records", "guess")[0] == 401


def test_tls_from_the_tls_directive(tmp_path, data):
    import ssl

    from helpers import make_pki
    pki = make_pki(tmp_path)
    port = free_port()
    text = (f"tls://skydns.local:{free_port()} {{\n tls {pki['server']} {pki['server_key']}\n"
            f" api 127.0.0.1:{port} {{\n  token ci {hashed(CI)} write\n  tls\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path):
        ctx = ssl.create_default_context(cafile=pki["ca"])
        assert call(port, "GET", "/records", CI, scheme="https", context=ctx)[:2] == (200, {"records": [], "next": None})


def test_skydns_token_makes_a_working_line(tmp_path, data):
    out = subprocess.run([f"{BIN}/skydns", "token", "deploy", "write", "web.skydns.local."], capture_output=True,
                         text=True, env=env(), timeout=30, check=True).stdout
    secret = out.split("):", 1)[1].split()[0]
    line = [x.strip() for x in out.splitlines() if x.strip().startswith("token deploy sha256:")][0]
    assert secret not in line
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  {line}\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path):
        assert call(port, "PUT", "/records/web", secret, A)[0] == 200
        assert call(port, "PUT", "/records/db", secret, A)[0] == 403


@pytest.mark.parametrize("lines,message", [
    ("token ci short write", "token ci: a token needs at least 8 characters"),
    ("token ci sha256:abcd write", "token ci: a sha256: hash has 64 hex digits"),
    ("token ci sha256:zz write", "token ci: non-hexadecimal"),
    ("token ci long-enough-secret admin", "access is read or write, not 'admin'"),
    ("token ci long-enough-secret read web.skydns.local.", "names are for write tokens"),
    ("token ci long-enough-secret write\n  token ci other-long-secret read", "two tokens are named ci"),
    ("token a long-enough-secret write\n  token b long-enough-secret read", "two tokens have the same secret"),
    ("token ci long-enough-secret", "token takes TOKEN, or NAME SECRET read|write"),
    ("token ci long-enough-secret write\n  tls", "tls without CERT KEY takes the tls directive's"),
])
def test_bad_tokens_never_show_the_secret(tmp_path, lines, message):
    (tmp_path / "Corefile").write_text(f"skydns.local:0 {{\n api 127.0.0.1:0 {{\n  {lines}\n }}\n etcd\n}}\n")
    with pytest.raises(CorefileError) as e:
        config.load(str(tmp_path / "Corefile"))
    assert message in str(e.value) and "plugin/api" in str(e.value)
    assert "long-enough-secret" not in str(e.value) and "other-long-secret" not in str(e.value)


def test_names_outside_the_zones_are_refused(tmp_path, data):
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{free_port()} {{\n  token ci {hashed(CI)} write web.example.com.\n"
            f" }}\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with pytest.raises(CorefileError) as e:
        testing.serve(text, tmp_path).__enter__()
    assert "token ci: web.example.com. is outside the served zones" in str(e.value)
