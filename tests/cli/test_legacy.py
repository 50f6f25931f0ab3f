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
    """SkyDNS's flags (-stubzones, -rtimeout, -ns-rotate among them) and /skydns/config (its "ndot" too), served
    by skydns legacy, answer as the same setup written by hand; twistd's options after -- are twistd's."""
    up, stub = ups(address="192.0.2.80"), ups(address="192.0.2.81")
    data.put("web.skydns.local", {"host": "10.0.0.1", "port": 80})
    data.put("x1.db.skydns.local", {"host": "10.0.0.2", "port": 5432})
    data.put("x2.db.skydns.local", {"host": "10.0.0.3", "port": 5432})
    data.put("ns1.example.com.stub.dns.skydns.local", {"host": "127.0.0.1", "port": stub.port})
    data.client.put(f"{data.path}/config", json.dumps({"domain": "skydns.local", "ttl": 60, "min_ttl": 10,
                                                       "nameservers": [up.addr], "hostmaster": "dns@skydns.local",
                                                       "round_robin": False, "ndot": 3, "ns_rotate": False,
                                                       "read_timeout": 1500000000, "priority": 10}))
    port = testing.free_port()
    logfile = tmp_path / "legacy.log"
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "legacy", "-addr", f"127.0.0.1:{port}", "-machines",
                             data.server.url, "-path-prefix", data.path.strip("/"), "-stubzones", "-rtimeout", "2s",
                             "-ns-rotate=true", "--", "--logfile", str(logfile)], env=env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port, proc)
        written = (f".:0 {{\n stub skydns.local\n etcd skydns.local {{\n  path {data.path}\n"
                   f"  endpoint {data.server.url}\n  ttl 60\n  min_ttl 10\n  hostmaster dns@skydns.local\n }}\n"
                   f" forward . {up.addr} {{\n  ndots 3\n  policy sequential\n  read_timeout 1500ms\n }}\n}}\n")
        with testing.serve(written, tmp_path) as srv:
            for name, qtype in (("web.skydns.local.", "A"), ("db.skydns.local.", "A"), ("db.skydns.local.", "SRV"),
                                ("nope.skydns.local.", "A"), ("skydns.local.", "SOA"), ("www.example.org.", "A"),
                                ("a.b.example.org.", "A"), ("www.example.com.", "A"), ("localhost.", "A")):
                assert eventually(lambda n=name, t=qtype: answer(port, n, t) == answer(srv.port, n, t)), (
                    name, qtype, answer(port, name, qtype), answer(srv.port, name, qtype))
        assert "192.0.2.81" in str(answer(port, "www.example.com.", "A"))  # the stub zone's server answered
        assert logfile.exists() and "etcd copy of" in logfile.read_text()  # --logfile reached twistd
    finally:
        proc.terminate()
        proc.wait(timeout=15)


SKYDNS_FLAGS = ["-domain", "d.local", "-addr", "127.0.0.1:1053", "-nameservers", "192.0.2.1:53", "-no-rec",
                "-machines", "http://127.0.0.1:2379", "-dnssec", "Kd.local.+013+00001", "-local", "me.d.local",
                "-tls-key", "k.pem", "-tls-pem", "c.pem", "-ca-cert", "ca.pem", "-username", "u", "-password", "p",
                "-rtimeout", "3s", "-round-robin=false", "-ns-rotate=false", "-stubzones", "-verbose", "-systemd",
                "-hostmaster", "h@d.local", "-scache", "500", "-rcache", "1000", "-rcache-ttl", "30", "-ndots", "1",
                "-path-prefix", "sky", "-etcd3"]


def test_every_flag_of_skydns_is_translated():
    """The flags of SkyDNS's main.go (v2.5.3a), each into its place in the Corefile."""
    s, rest = legacy.load(SKYDNS_FLAGS, environ={}, etcd=False)
    assert rest == []
    text = legacy.corefile(s)
    for words in ("etcd d.local.", "bind 127.0.0.1", "forward . 192.0.2.1:53", "no_rec", "key file Kd.local.+013+00001",
                  "local me.d.local", "tls c.pem k.pem ca.pem", "read_timeout 3000ms", "policy sequential",
                  "stub d.local.", "log", "hostmaster h@d.local", "cache_capacity 500", "success 1000",
                  "cache 30 d.local.", "ndots 1", "path /sky"):
        assert words in text, (words, text)
    assert "loadbalance" not in text and " u" not in text.split("#")[0] and "password" not in text


def test_version_prints_and_exits(capsys):
    assert legacy.migrate_command.run(["-version"]) == 0
    assert capsys.readouterr().out.startswith("skydns ")


@pytest.mark.parametrize("config, words", [
    ({"priority": 20}, "priority 20: skydns gives a service without a priority"),
    ({"read_timeout": "forever"}, "read_timeout 'forever' is not a valid value"),
    ({"ndot": "two"}, "ndots 'two' is not a valid value"),
])
def test_config_keys_refused_with_the_reason(config, words):
    s, _ = legacy.load([], environ={}, etcd=False)
    with pytest.raises(legacy.LegacyError, match=words):
        legacy.apply_config(config, s)
        legacy.corefile(s)


FORK_DNS = """[Dns]
dns-domain = skydns.local.
dns-addr = 0.0.0.0:1053
nameservers = ""
subDomainServers = ""
cacheSize = 100000
ip-monitor-path = /hades/monitor/status/
[Log]
log-dir = /export/log/skydns
log-level = 2
log-to-stdio = true
[Etcd]
etcd-servers = http://127.0.0.1:2379
etcd-certfile = ""
etcd-keyfile = ""
etcd-cafile = ""
[Fun]
random-one = false
hone-one = true
[Stats]
statsServer = 127.0.0.1:9600
statsServerAuthToken = @skydns.com
"""
FORK_API = """[General]
domain=skydns.local
host = 192.168.169.41
etcd-server = http://127.0.0.1:2379
ip-monitor-path = /hades/monitor/status
log-dir = /export/log/hades
log-level = 2
log-to-stdio = false
[Kube2Skydns]
kube-enable = NO
[SkydnsApi]
api-enable = YES
api-address = 127.0.0.1:9003
skydns-auth = 123456789
"""
FORK_SCANNER = """[General]
core = 0
enable-check = true
hostname = hostname1
log-dir = /export/log/skydns
log-level = 100
heartbeat-interval = 30
[Check]
check-timeout = 2
check-interval = 10
scann-ports = 22, 80, 8080
enable-icmp = true
ping-timeout = 1000
ping-count = 2
[Etcd]
etcd-machine = http://127.0.0.1:2379
tls-key =
tls-pem =
ca-cert =
status-path = /hades/monitor/status
report-path = /skydns/monitor/report
heart-path = /skydns/monitor/heart
"""


def test_migrate_reads_the_forks_ini_files(tmp_path):
    """The fork's README's skydns.conf, skydns-kubeapi's and the scanner's files: one Corefile that validates,
    with the monitor, sticky answers, the cache, the stats address, the records API (its token kept out) and
    the scanner; what needs nothing is noted."""
    files = []
    for name, text in (("skydns.conf", FORK_DNS), ("kubeapi.conf", FORK_API), ("scanner.conf", FORK_SCANNER)):
        (tmp_path / name).write_text(text)
        files += ["-config-file", str(tmp_path / name)]
    out = subprocess.run([os.path.join(BIN, "skydns"), "migrate", *files], capture_output=True, text=True,
                         timeout=60, env=env(), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for words in (".:1053 {", "monitor /hades/monitor/status", "loadbalance sticky", "success 100000",
                  "prometheus 127.0.0.1:9600", "api 127.0.0.1:9003", "interval 10s", "timeout 2s", "id hostname1",
                  "$SKYDNS_API_TOKEN"):
        assert words in text, (words, text)
    assert "123456789" not in text
    assert "scann-ports is not needed" in out.stderr and "heartbeat-interval is not needed" in out.stderr
    (tmp_path / "Corefile").write_text(text)
    check = subprocess.run([os.path.join(BIN, "skydns"), "validate", "-c", str(tmp_path / "Corefile")],
                           capture_output=True, text=True, timeout=60, env=dict(env(), SKYDNS_API_TOKEN="123456789"),
                           cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr


def test_kube2skydns_becomes_kubewatch(tmp_path):
    """[Kube2Skydns] kube-enable = YES: the kubewatch directive, in the cluster or at the API server named."""
    for extra, words in (("", "    kubewatch\n"), ("kube-master-url = https://10.0.0.1:6443\n",
                                                  "        endpoint https://10.0.0.1:6443\n")):
        (tmp_path / "kubeapi.conf").write_text(f"[Kube2Skydns]\nkube-enable = YES\n{extra}")
        s, _ = legacy.load(["-config-file", str(tmp_path / "kubeapi.conf")], environ={}, etcd=False)
        assert words in legacy.corefile(s)


@pytest.mark.parametrize("section, words", [
    ("[Dns]\nsubDomainServers = a.local:10.0.0.1:53\n", "subdomainservers: forwarding subdomains"),
    ("[Fun]\nrandom-one = true\nhone-one = true\n", "choose one"),
    ("[Check]\ncheck-interval = never\n", "check-interval = 'never'"),
])
def test_fork_settings_refused_with_the_reason(tmp_path, section, words):
    (tmp_path / "x.conf").write_text(section)
    with pytest.raises(legacy.LegacyError, match=words):
        legacy.load(["-config-file", str(tmp_path / "x.conf")], environ={}, etcd=False)


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
    assert legacy.secrets(s) == {"ETCD_USERNAME": "root", "ETCD_PASSWORD": "hunter2"}


def test_the_served_corefile_is_private_and_removed_at_exit(tmp_path, monkeypatch, capsys):
    """skydns legacy writes its Corefile where only its user reads it, without the password, and removes it when
    twistd returns; -password on the command line gets a warning."""
    import stat

    from skydns.cli import tap
    seen = {}

    def fake_twistd(argv, twistd_options=None):
        path = argv[argv.index("-c") + 1]
        seen.update(path=path, mode=stat.S_IMODE(os.stat(path).st_mode), text=open(path).read(),
                    password=os.environ.get("ETCD_PASSWORD"))

    monkeypatch.setattr(tap, "run_twistd", fake_twistd)
    monkeypatch.setattr(legacy.settings, "read_config", lambda s: {"domain": "legacy.local"})
    for name in ("ETCD_USERNAME", "ETCD_PASSWORD"):  # restored after the test, which the command changes
        monkeypatch.setenv(name, "")
    assert legacy.legacy_command.run(["-username", "root", "-password", "hunter2"]) == 0
    assert seen["mode"] == 0o600 and "legacy.local" in seen["text"] and "hunter2" not in seen["text"]
    assert seen["password"] == "hunter2"
    assert not os.path.exists(seen["path"])
    assert "-password shows in ps" in capsys.readouterr().err
