"""SkyDNS's configuration (command line, environment, /skydns/config) as a Corefile: skydns migrate prints it,
skydns legacy serves it, and it answers as the same setup written by hand does."""
import json
import os
import subprocess

import dns.message
import dns.query
import pytest

from helpers import eventually
from helpers.processes import BIN, ROOT, env, wait_until_serving
from skydns import testing
from skydns.cli import legacy


def test_precedence_defaults_environment_flags_then_etcd():
    s, rest = legacy.load(["-domain", "flag.local", "-ndots", "3", "-no-rec", "extra"],
                          environ={"SKYDNS_DOMAIN": "env.local", "SKYDNS_NDOTS": "1", "ETCD_MACHINES": "http://a:1,http://b:2",
                                   "SKYDNS_NAMESERVERS": "192.0.2.1:53"}, etcd=False)
    assert (s.domain, s.ndots, s.no_rec, s.machines, s.nameservers) == (
        "flag.local", 3, True, ["http://a:1", "http://b:2"], ["192.0.2.1:53"])
    assert rest == ["extra"]
    legacy.apply_config({"domain": "etcd.local", "ttl": 60, "shiny": 1}, s)
    assert s.domain == "etcd.local" and s.ttl == 60 and "config shiny is not used by skydns" in s.notes


@pytest.mark.parametrize("argv, words", [
    (["-bogus"], "unknown SkyDNS flag -bogus"),
    (["-ndots", "many"], "ndots 'many' is not a valid value"),
    (["-addr"], "-addr needs a value"),
])
def test_bad_flags(argv, words):
    with pytest.raises(legacy.LegacyError, match=words):
        legacy.load(argv, environ={}, etcd=False)


def test_migrate_prints_a_corefile_that_validates(tmp_path, data):
    data.client.put(f"{data.path}/config", json.dumps({"domain": "skydns.local", "ttl": 120, "rcache": 100,
                                                       "nameservers": ["192.0.2.53:53"], "local": "me.skydns.local"}))
    out = subprocess.run([os.path.join(BIN, "skydns"), "migrate", "-addr", "127.0.0.1:1053", "-machines",
                          data.server.url, "-path-prefix", data.path.strip("/"), "-discover"],
                         capture_output=True, text=True, timeout=60, env=env(), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for words in (".:1053 {", "bind 127.0.0.1", f"path {data.path}", "ttl 120", "local me.skydns.local",
                  "cache 60 skydns.local.", "success 100", "forward . 192.0.2.53:53", "ndots 2", "discover"):
        assert words in text, (words, text)
    (tmp_path / "Corefile").write_text(text)
    out = subprocess.run([os.path.join(BIN, "skydns"), "validate", "-c", str(tmp_path / "Corefile")],
                         capture_output=True, text=True, timeout=60, env=env(), cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def answer(port, name, qtype):
    r = dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1", port=port, timeout=3)
    return r.rcode(), sorted(rrset.to_text() for rrset in r.answer), sorted(rrset.to_text() for rrset in r.authority)


def test_legacy_serves_a_skydns_command_line_as_the_corefile_does(tmp_path, data, ups):
    up = ups(address="192.0.2.80")
    data.put("web.skydns.local", {"host": "10.0.0.1", "port": 80})
    data.put("x1.db.skydns.local", {"host": "10.0.0.2", "port": 5432})
    data.put("x2.db.skydns.local", {"host": "10.0.0.3", "port": 5432})
    data.client.put(f"{data.path}/config", json.dumps({"domain": "skydns.local", "ttl": 60, "min_ttl": 10,
                                                       "nameservers": [up.addr], "hostmaster": "dns@skydns.local",
                                                       "round_robin": False}))
    port = testing.free_port()
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "legacy", "-addr", f"127.0.0.1:{port}", "-machines",
                             data.server.url, "-path-prefix", data.path.strip("/")], env=env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port, proc)
        written = (f".:0 {{\n etcd skydns.local {{\n  path {data.path}\n  endpoint {data.server.url}\n  ttl 60\n"
                   f"  min_ttl 10\n  hostmaster dns@skydns.local\n }}\n forward . {up.addr} {{\n  ndots 2\n }}\n}}\n")
        with testing.serve(written, tmp_path) as srv:
            for name, qtype in (("web.skydns.local.", "A"), ("db.skydns.local.", "A"), ("db.skydns.local.", "SRV"),
                                ("nope.skydns.local.", "A"), ("skydns.local.", "SOA"), ("www.example.org.", "A"),
                                ("localhost.", "A")):
                assert eventually(lambda n=name, t=qtype: answer(port, n, t) == answer(srv.port, n, t)), (
                    name, qtype, answer(port, name, qtype), answer(srv.port, name, qtype))
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# -- what /skydns/config and a command line can put into a Corefile (issue 27) -------------------------------

@pytest.mark.parametrize("key, value", [
    ("hostmaster", "x@skydns.local\n}\nchaos {$SKYDNS_API_TOKEN}\n{"),
    ("domain", "skydns.local {\n whoami\n}"),
    ("local", "web.skydns.local # x"),
    ("nameservers", ["8.8.8.8:53 {$SKYDNS_API_TOKEN}"]),
    ("dnssec", "Kkey {$HOME}"),
])
def test_config_values_are_checked_never_interpolated(key, value):
    """A value of /skydns/config that would change the Corefile's shape (a line break, a brace, a variable) is
    refused, naming the setting."""
    s, _ = legacy.load([], environ={}, etcd=False)
    legacy.apply_config({key: value}, s)
    with pytest.raises(legacy.LegacyError, match=f"{key if key != 'nameservers' else 'nameserver'}"):
        legacy.corefile(s)


def test_credentials_stay_out_of_the_corefile(tmp_path):
    """etcd's password goes to the etcd plugin through the environment, never into the Corefile's text; a file
    can hold it, off the command line."""
    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    s, _ = legacy.load(["-username", "root", "-password-file", str(secret)], environ={}, etcd=False)
    text = legacy.corefile(s)
    assert "hunter2" not in text and "credentials" not in text
    assert legacy.credentials(s) == {"ETCD_USERNAME": "root", "ETCD_PASSWORD": "hunter2"}


def test_the_served_corefile_is_private_and_removed_at_exit(tmp_path, monkeypatch, capsys):
    """skydns legacy writes its Corefile where only its user reads it, without the password, and removes it when
    twistd returns; -password on the command line gets a warning."""
    import stat

    from skydns.cli import tap
    seen = {}

    def fake_twistd(argv):
        path = argv[argv.index("-c") + 1]
        seen.update(path=path, mode=stat.S_IMODE(os.stat(path).st_mode), text=open(path).read(),
                    password=os.environ.get("ETCD_PASSWORD"))

    monkeypatch.setattr(tap, "run_twistd", fake_twistd)
    monkeypatch.setattr(legacy, "read_config", lambda s: {"domain": "legacy.local"})
    for name in ("ETCD_USERNAME", "ETCD_PASSWORD"):  # restored after the test, which the command changes
        monkeypatch.setenv(name, "")
    assert legacy.legacy_command.run(["-username", "root", "-password", "hunter2"]) == 0
    assert seen["mode"] == 0o600 and "legacy.local" in seen["text"] and "hunter2" not in seen["text"]
    assert seen["password"] == "hunter2"
    assert not os.path.exists(seen["path"])
    assert "-password shows in ps" in capsys.readouterr().err
