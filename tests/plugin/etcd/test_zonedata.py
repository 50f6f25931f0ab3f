"""Zone data: the fast path for a name with one plain address makes the records the general path makes."""
import itertools
import json

import pytest

from skydns.msg import path
from skydns.msg.service import from_json
from skydns.plugin.etcd import zonedata
from skydns.plugin.etcd.index import Index
from skydns.plugin.etcd.zonedata import ZoneData
from skydns.query.answers.rules import Settings


class FakeCopy:
    def __init__(self, index):
        self.index = index
        self.synced = True

    def serial(self, zone):
        return 7

    def lease_ttl(self, lease):
        return 42 if lease else None


FIELDS = [
    {"host": "10.0.0.1"}, {"host": "2001:db8::1"}, {"host": "10.0.0.2", "port": 8080, "weight": 0},
    {"host": "10.0.0.3", "port": 53, "priority": 20, "weight": 30, "ttl": 60},
    {"host": "10.0.0.4", "port": 1, "targetstrip": 1}, {"host": "10.0.0.5", "text": "hello"},
    {"host": "10.0.0.6", "mail": True}, {"host": "10.0.0.7", "port": 443, "service": "https"},
    {"host": "10.0.0.8", "alpn": ["h2"]}, {"host": "10.0.0.9", "service": "ldap", "proto": "tcp"},
    {"host": "web.example.com"}, {"host": "10.0.0.10", "group": "g1"},
]


@pytest.mark.parametrize("fields, name", list(itertools.product(FIELDS, ["a.svc.skydns.local.",
                                                                         "7.0.0.10.in-addr.arpa."])))
def test_one_address_fast_path_is_the_general_path(monkeypatch, fields, name):
    index = Index()
    index.put(path.name_labels(name), from_json(json.dumps(fields), name))
    zd = ZoneData(FakeCopy(index), Settings(["skydns.local.", "in-addr.arpa."]))
    zone = "skydns.local." if name.endswith("skydns.local.") else "in-addr.arpa."
    fast = zd.rrs(zone, name)
    monkeypatch.setattr(zonedata, "_one_address", lambda *a: None)
    monkeypatch.setattr(zonedata, "_one_address_rrs", lambda *a: None)
    general = zd.rrs(zone, name)
    assert fast == general and general
