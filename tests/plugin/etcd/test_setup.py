"""The etcd directive: defaults, environment, options, and errors with file:line."""
import pytest

from skydns import config
from skydns.config.errors import CorefileError


def parse(tmp_path, body, zones="skydns.local"):
    p = tmp_path / "Corefile"
    p.write_text(f"{zones} {{\n{body}\n}}\n")
    cfg = config.load(str(p))
    return dict((name, c) for name, _, c in cfg.blocks[0][1])["etcd"]


def test_defaults(tmp_path, monkeypatch):
    for v in ("ETCD_MACHINES", "SKYDNS_PATH_PREFIX", "ETCD_USERNAME", "ETCD_PASSWORD"):
        monkeypatch.delenv(v, raising=False)
    c = parse(tmp_path, " etcd")
    assert c.zones == ["skydns.local."] and c.path == "/skydns" and (c.ttl, c.min_ttl) == (3600, 30)
    assert [str(e) for e in c.connection.endpoints] == ["http://127.0.0.1:2379"]
    assert c.fallthrough is None


def test_environment(tmp_path, monkeypatch):
    """ETCD_MACHINES, SKYDNS_PATH_PREFIX and credentials from the environment, as SkyDNS read them."""
    monkeypatch.setenv("ETCD_MACHINES", "http://10.0.0.1:4001,https://10.0.0.2:2379")
    monkeypatch.setenv("SKYDNS_PATH_PREFIX", "mydns")
    monkeypatch.setenv("ETCD_USERNAME", "u")
    monkeypatch.setenv("ETCD_PASSWORD", "p")
    c = parse(tmp_path, " etcd")
    assert [str(e) for e in c.connection.endpoints] == ["http://10.0.0.1:4001", "https://10.0.0.2:2379"]
    assert c.path == "/mydns" and (c.connection.username, c.connection.password) == ("u", "p")


def test_all_options(tmp_path):
    body = """ etcd example.org other.example {
  path /services/dns
  endpoint http://a:1 http://b:2
  credentials root secret
  fallthrough in-addr.arpa
  ttl 60
  min_ttl 5
  hostmaster dns@example.org
  local host1.hosts.example.org
  zones extra.example
  upstream
 }"""
    c = parse(tmp_path, body)
    assert c.zones == ["example.org.", "other.example.", "extra.example."]
    assert c.path == "/services/dns" and len(c.connection.endpoints) == 2
    assert c.fallthrough == ["in-addr.arpa."] and (c.ttl, c.min_ttl) == (60, 5)
    assert c.hostmaster == "dns@example.org" and c.local == "host1.hosts.example.org."


@pytest.mark.parametrize("body, message", [
    (" etcd {\n  nope 1\n }", "Corefile:3 - plugin/etcd: unknown property 'nope'"),
    (" etcd {\n  ttl -1\n }", "Corefile:3 - plugin/etcd: ttl must be between 0 and"),
    (" etcd {\n  ttl soon\n }", "'soon' is not ttl"),
    (" etcd {\n  path relative\n }", "path needs one absolute"),
    (" etcd {\n  endpoint ftp://x\n }", "Corefile:3 - plugin/etcd: endpoint 'ftp://x' must start with http"),
    (" etcd {\n  credentials justuser\n }", "credentials needs USERNAME and PASSWORD"),
    (" etcd {\n  tls /no/cert /no/key /no/ca\n }", "tls: cannot read /no/cert"),
    (" etcd\n etcd", "Corefile:3 - plugin/etcd: this plugin can only be used once"),
    (" etcd {\n  min-lease-ttl 1h\n  max-lease-ttl 1m\n }", "min-lease-ttl 3600s is above max-lease-ttl 60s"),
    (" etcd {\n  tls a b c d\n }", "tls takes no argument (system CAs), CACERT, CERT KEY, or CERT KEY CACERT"),
])
def test_errors(tmp_path, body, message):
    with pytest.raises(CorefileError) as e:
        parse(tmp_path, body)
    assert message in str(e.value)


def test_coredns_options(tmp_path):
    """CoreDNS's tls with 0 to 3 arguments, min-lease-ttl and max-lease-ttl; stubzones and debug accepted."""
    from skydns.plugin.etcd.setup import system_ca

    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    c = parse(tmp_path, f" etcd {{\n  tls {ca}\n  min-lease-ttl 30s\n  max-lease-ttl 2h\n  stubzones\n  debug\n }}")
    assert (c.connection.tls_cert, c.connection.tls_key, c.connection.tls_ca) == (None, None, str(ca))
    assert (c.min_lease_ttl, c.max_lease_ttl) == (30, 7200)
    if system_ca() is not None:
        c = parse(tmp_path, " etcd {\n  tls\n }")
        assert c.connection.tls_ca == system_ca() and c.connection.tls_cert is None
        c = parse(tmp_path, f" etcd {{\n  tls {ca} {ca}\n }}")
        assert (c.connection.tls_cert, c.connection.tls_key, c.connection.tls_ca) == (str(ca), str(ca), system_ca())
