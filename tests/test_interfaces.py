"""Every built-in keeps the contracts it declares, and the core offers what interfaces.py promises."""
from importlib.metadata import EntryPoint

import pytest
from twisted.internet import task
from zope.interface import Interface, implementer
from zope.interface.verify import verifyClass, verifyObject

from skydns import config, interfaces
from skydns.cli import commands
from skydns.clients.etcd.records import EtcdRecords
from skydns.config.block import Block
from skydns.config.errors import CorefileError
from skydns.interfaces import (
    ICommand,
    IMetrics,
    IReadiness,
    IRecordSource,
    IRecordStore,
    IServer,
    IServerBlock,
)
from skydns.listen.service import SkyDNSService

#: Every chain plugin that builds without opening a socket (HTTP plugins listen when built).
COREFILE = """\
example.org:53 {
    errors
    log
    any
    chaos
    loadbalance
    acl {
        block type ANY
    }
    cache
    stub
    etcd {
        endpoint http://127.0.0.1:1
    }
    forward . 192.0.2.53 {
        expire 10s
    }
    whoami
}
"""

INTERFACES = [v for v in vars(interfaces).values()
              if isinstance(v, type(Interface)) and v is not Interface and v.__module__ == interfaces.__name__]


@pytest.fixture
def built(tmp_path):
    path = tmp_path / "Corefile"
    path.write_text(COREFILE)
    return config.load(str(path)).build(task.Clock())


def test_every_builtin_handler_and_provided_object_keeps_its_contracts(built):
    """verifyObject for every interface each handler and announced object declares."""
    (block,) = built.blocks
    handlers = block.handlers()
    assert [h.name for h in handlers] == ["errors", "any", "chaos", "loadbalance", "acl", "cache", "stub", "etcd",
                                          "forward", "whoami"]
    checked = 0
    for obj in block.find(Interface):  # every handler, then every announced object
        for iface in INTERFACES:
            if iface.providedBy(obj):
                verifyObject(iface, obj)
                checked += 1
    assert checked >= len(handlers) + 4


def test_capabilities_are_found_by_interface(built):
    """The record source, readiness and metrics come from the plugins that offer them."""
    (block,) = built.blocks
    (source,) = block.find(IRecordSource)
    assert source.zones == ["example.org."] and not source.synced
    assert [r.name for r in block.find(IReadiness)] == ["etcd"]
    assert "copy of /skydns not read yet" in source.ready()
    names = {type(m).__name__ for m in block.find(IMetrics)}
    assert names == {"Cache", "ACL", "Forward", "RecordsCopy", "Stub"}
    assert [type(m).__name__ for _, m in built.find(IMetrics)].count("RecordsCopy") == 1


def test_core_classes_provide_their_interfaces():
    verifyClass(IServer, SkyDNSService)
    verifyClass(IServerBlock, Block)
    verifyClass(IRecordStore, EtcdRecords)


def test_block_shared_require_and_provide(tmp_path):
    path = tmp_path / "Corefile"
    path.write_text("a.example:53 {\n stub\n whoami\n}\nb.example:53 {\n whoami\n}\n")
    cfg = config.load(str(path))
    with pytest.raises(CorefileError, match=r"Corefile:2 - plugin/stub: needs a record source"):
        cfg.build(task.Clock())
    path.write_text("a.example:53 {\n whoami\n}\nb.example:53 {\n whoami\n}\n")
    gen = config.load(str(path)).build(task.Clock())
    a, b = gen.blocks
    made = []
    assert a.shared("k", lambda: made.append(1) or "one") == b.shared("k", lambda: made.append(2) or "two") == "one"
    assert made == [1]  # one per configuration
    thing = Loaded()
    a.provide(thing)
    a.provide(thing)
    assert a.find(IReadiness) == [thing] and b.find(IReadiness) == []  # once, and in its block only


@implementer(IReadiness)
class Loaded:
    name = "loaded"

    def ready(self):
        return None


def test_commands_come_from_entry_points():
    """skydns ds is the dnssec plugin's command, found through skydns.commands like any other."""
    ds = commands.load("ds")
    verifyObject(ICommand, ds)
    assert ("ds", ds.summary) in commands.available()
    with pytest.raises(LookupError, match="unknown command 'nope'"):
        commands.load("nope")
    bad = {"bad": EntryPoint("bad", "skydns.query.zones:WILDCARDS", commands.GROUP)}
    with pytest.raises(LookupError, match="is not a skydns command"):
        commands.load("bad", bad)
    assert commands.available(bad)[0][1].startswith("(broken:")
