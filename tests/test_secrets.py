"""Secrets stay secret: the etcd password, the API tokens, the TSIG and cookie secrets of a running server
appear in nothing it wrote: its log (refusals, throttling, a reload refused), its temporary files,
/metrics, its HTTP error bodies, `skydns legacy`'s Corefile and `skydns migrate`'s output (unless asked)."""
import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from helpers import BIN, ROOT, env, eventually, free_port, wait_until_serving
from skydns.cli.devetcd import LocalEtcd

pytestmark = pytest.mark.integration

ETCD_PASSWORD = "etcd-pw-7d1c9a55e2"
API_TOKEN = "api-token-4b8e0f3a91"
READ_TOKEN = "read-token-c2a7e65d10"
TSIG_RAW = b"tsig-secret-6f0e2b9d37"
TSIG = base64.b64encode(TSIG_RAW).decode()
COOKIE = "5e3f0a9c1b7d2e4f6a8c0b1d3e5f7a9c"
SECRETS = [ETCD_PASSWORD, API_TOKEN, READ_TOKEN, TSIG, TSIG_RAW.decode(), COOKIE]


def corefile(port, api, metrics, url, extra=""):
    return (f"skydns.local:{port} {{\n bind 127.0.0.1\n cookie {{\n  secret {COOKIE}\n }}\n"
            f" api 127.0.0.1:{api} {{\n  token ci {API_TOKEN} write\n  token viewer {READ_TOKEN} read\n{extra} }}\n"
            f" prometheus 127.0.0.1:{metrics}\n log\n errors\n tsig {{\n  secret ops. {TSIG}\n }}\n"
            f" update {{\n  key ops.\n }}\n etcd {{\n  endpoint {url}\n  credentials root {ETCD_PASSWORD}\n }}\n}}\n")


def http(url, token=None, method="GET", body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def update(port, secret):
    u = dns.update.UpdateMessage("skydns.local.", keyring=dns.tsigkeyring.from_text({"ops.": secret}), keyname="ops.")
    u.add("web.skydns.local.", 60, "A", "10.0.0.9")
    try:
        return dns.query.tcp(u, "127.0.0.1", port=port, timeout=10).rcode()
    except dns.exception.DNSException as e:  # a reply signed with the real key does not verify here
        return type(e).__name__


def grep(where: dict[str, str]) -> list[str]:
    return [f"{secret!r} in {name}" for name, text in where.items() for secret in SECRETS if secret in text]


def test_nothing_the_server_wrote_holds_a_secret(tmp_path):
    import pyetcd.etcdrpc as rpc

    server = LocalEtcd(str(tmp_path / "etcd")).start()
    c = server.client()
    c.put("/skydns/local/skydns/web", '{"host": "10.0.0.1"}')
    c.authstub.RoleAdd(rpc.AuthRoleAddRequest(name="root"))
    c.authstub.UserAdd(rpc.AuthUserAddRequest(name="root", password=ETCD_PASSWORD))
    c.authstub.UserGrantRole(rpc.AuthUserGrantRoleRequest(user="root", role="root"))
    c.authstub.AuthEnable(rpc.AuthEnableRequest())
    c.close()
    private_tmp = tmp_path / "tmp"  # the server's TMPDIR: whatever it writes there is read below
    private_tmp.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    port, api, metrics = free_port(), free_port(), free_port()
    conf = run / "Corefile"
    conf.write_text(corefile(port, api, metrics, server.url))
    out, err = open(run / "stdout", "wb"), open(run / "stderr", "wb")
    proc_env = dict(env(), TMPDIR=str(private_tmp))
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "-c", str(conf)], cwd=run, env=proc_env,
                            stdout=out, stderr=err)
    seen: dict[str, str] = {}
    try:
        wait_until_serving(port, proc)
        assert eventually(lambda: dns.query.udp(dns.message.make_query("web.skydns.local.", "A"), "127.0.0.1",
                                                port=port, timeout=1).answer, timeout=20)
        q = dns.message.make_query("web.skydns.local.", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"12345678")])
        assert dns.query.udp(q, "127.0.0.1", port=port, timeout=2).answer
        base = f"http://127.0.0.1:{api}/skydns/api/records"
        for i in range(8):  # wrong tokens holding the right one (a typo): refused, then throttled and logged
            seen[f"api refusal {i}"] = http(base, token=f"{API_TOKEN}-typo{i}")[1]
        time.sleep(2.5)
        seen["api write"] = http(base + "/db", token=API_TOKEN, method="PUT", body={"type": "A", "ips": ["10.0.0.2"]})[1]
        seen["api read-only"] = http(base + "/db", token=READ_TOKEN, method="PUT",
                                     body={"type": "A", "ips": ["10.0.0.3"]})[1]
        assert update(port, TSIG) == dns.rcode.NOERROR
        assert update(port, base64.b64encode(b"a wrong secret!!").decode()) != dns.rcode.NOERROR
        status, seen["metrics"] = http(f"http://127.0.0.1:{metrics}/metrics")
        assert status == 200 and "skydns_cookie_queries_total" in seen["metrics"]
        # a reload refused for a bad line next to the secrets: the error names the line, not them
        conf.write_text(corefile(port, api, metrics, server.url, extra=f"  token ci2 {API_TOKEN}x admin\n"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        conf.write_text(corefile(port, api, metrics, server.url).replace(f"secret ops. {TSIG}",
                                                                       f"secret ops. {TSIG} {TSIG}"))
        proc.send_signal(signal.SIGHUP)
        assert eventually(lambda: b"reload failed" in (run / "stdout").read_bytes() + (run / "stderr").read_bytes()
                          and (run / "stdout").read_bytes().count(b"reload failed")
                          + (run / "stderr").read_bytes().count(b"reload failed") >= 2, timeout=10)
    finally:
        proc.terminate()
        proc.wait(15)
        out.close()
        err.close()

    # skydns migrate: masked unless asked; skydns legacy: its Corefile holds no secret
    pw_file = tmp_path / "etcd-password"
    pw_file.write_text(ETCD_PASSWORD)
    mig = subprocess.run([os.path.join(BIN, "skydns"), "migrate", "-machines", server.url, "-username", "root",
                          "-password-file", str(pw_file), "-domain", "skydns.local."], capture_output=True,
                         text=True, env=proc_env, timeout=60)
    assert mig.returncode == 0, mig.stderr
    seen["migrate stdout"], seen["migrate stderr"] = mig.stdout, mig.stderr
    shown = subprocess.run([os.path.join(BIN, "skydns"), "migrate", "-machines", server.url, "-username", "root",
                            "-password-file", str(pw_file), "-show-secrets"], capture_output=True, text=True,
                           env=proc_env, timeout=60)
    assert ETCD_PASSWORD in shown.stdout  # asked for: shown
    legacy_port = free_port()
    legacy = subprocess.Popen([os.path.join(BIN, "skydns"), "legacy", "-addr", f"127.0.0.1:{legacy_port}",
                               "-machines", server.url, "-username", "root", "-password-file", str(pw_file),
                               "-domain", "skydns.local."], env=proc_env, cwd=ROOT,
                              stdout=open(run / "legacy.out", "wb"), stderr=open(run / "legacy.err", "wb"))
    try:
        wait_until_serving(legacy_port, legacy)
        assert eventually(lambda: dns.query.udp(dns.message.make_query("web.skydns.local.", "A"), "127.0.0.1",
                                                port=legacy_port, timeout=1).answer, timeout=20)
        written = list(private_tmp.glob("skydns-legacy-*"))
        assert written  # its Corefile, while it runs
        for f in written:
            seen[f"legacy's {f.name}"] = f.read_text()
    finally:
        legacy.terminate()
        legacy.wait(15)
        server.stop()

    for f in list(run.rglob("*")) + list(private_tmp.rglob("*")):
        if f.is_file() and f != conf:
            seen[str(f.relative_to(tmp_path))] = f.read_bytes().decode("utf-8", "replace")
    logged = seen["run/stdout"] + seen["run/stderr"]
    # the events worth a line were logged (so the grep looked at something)
    assert "wrong tokens from 127.0.0.1" in logged and "reload failed" in logged
    assert "access is read or write, not 'admin'" in logged
    assert grep(seen) == []
