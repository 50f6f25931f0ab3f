"""The history of every name, in real etcd: writes through the records API, skydnsctl and RFC 2136 UPDATE name their
author; skydnsctl history, diff and rollback; what etcd compacted is said to be gone."""
import json
import urllib.request

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from helpers import eventually, free_port
from helpers.ctl import ctl_run
from skydns import testing

pytestmark = pytest.mark.integration
TOKEN = "history-token"
SECRET = "aGlzdG9yeS10c2lnLXNlY3JldC1mb3ItdGhlLXRlc3Qh"


def addrs(srv, name="web.skydns.local."):
    return sorted(rd.address for rrset in srv.query(name, "A").answer for rd in rrset)


def revision(data) -> int:
    """etcd's revision now (every write moved it on)."""
    return data.client.get_response("/").header.revision


def test_authors_history_diff_and_rollback(tmp_path, data):
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n }}\n"
            f" tsig {{\n  secret ops {SECRET}\n }}\n update {{\n  key ops\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    where = ["--etcd", data.server.url, "--path", data.path]
    with testing.serve(text, tmp_path) as srv:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/skydns/api/records/web", method="PUT",
                                     data=json.dumps({"type": "A", "ips": ["10.0.0.1"]}).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        urllib.request.urlopen(req, timeout=5).read()
        first = revision(data)
        assert ctl_run(*where, "add", "web", "--ip", "10.0.0.2")[0] == 0
        second = revision(data)
        u = dns.update.UpdateMessage("skydns.local.", keyring=dns.tsigkeyring.from_text({"ops": SECRET}),
                                     keyname="ops")
        u.add("web.skydns.local.", 60, "A", "10.0.0.3")
        assert dns.query.tcp(u, "127.0.0.1", port=srv.port, timeout=5).rcode() == dns.rcode.NOERROR
        assert eventually(lambda: addrs(srv) == ["10.0.0.2", "10.0.0.3"])

        code, out, err = ctl_run(*where, "--json", "history", "web")
        assert code == 0, err
        entries = json.loads(out)["entries"]
        assert [(e["author"].split(":")[0], e["op"]) for e in entries] == [
            ("api", "replace"), ("skydnsctl", "replace"), ("tsig", "update")]
        assert entries[0]["author"] == "api:token" and entries[2]["author"] == "tsig:ops"
        assert [sorted(s["host"] for s in e["services"]) for e in entries] == [
            ["10.0.0.1"], ["10.0.0.2"], ["10.0.0.2", "10.0.0.3"]]
        assert entries[0]["revision"] == first and entries[1]["revision"] == second
        code, out, _ = ctl_run(*where, "history", "web")
        assert "api:token" in out and "tsig:ops" in out and "10.0.0.2, 10.0.0.3" in out

        code, out, _ = ctl_run(*where, "diff", str(first), str(second))
        assert code == 0 and "x1.web.skydns.local." in out and "10.0.0.2" in out and "10.0.0.1" in out, out
        code, out, _ = ctl_run(*where, "--json", "diff", str(second))
        assert [c[0] for c in json.loads(out)] == ["added"]  # the update's new record, since `second`

        code, out, err = ctl_run(*where, "rollback", "web", "--to", str(first))
        assert code == 0 and f"as at revision {first}" in out, err
        assert eventually(lambda: addrs(srv) == ["10.0.0.1"])
        entries = json.loads(ctl_run(*where, "--json", "history", "web")[1])["entries"]
        assert entries[-1]["op"] == f"rollback to {first}" and entries[-1]["author"].startswith("skydnsctl:")

        data.client.compact(second)  # etcd forgets what came before
        code, out, _ = ctl_run(*where, "history", "web")
        assert code == 0 and f"changes before revision {second} are gone" in out, out
        assert "api:token" not in out
        code, _, err = ctl_run(*where, "diff", str(first))
        assert code == 3 and "is gone" in err, err


def test_history_needs_etcd():
    code, _, err = ctl_run("--api", "http://127.0.0.1:1", "--token", "x", "history", "web")
    assert code == 2 and "give --etcd URL" in err
