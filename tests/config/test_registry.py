"""Plugin registry: chain order from the registry, third-party placement, bad plugins."""
from importlib.metadata import EntryPoint

import pytest
from zope.interface import implementer

from helpers import fakeplugins
from skydns import config
from skydns.config import directives
from skydns.config.errors import CorefileError
from skydns.config.registry import Registry
from skydns.interfaces import IPluginSetup
from skydns.query.chain import names


@implementer(IPluginSetup)
class ThirdParty:
    def __init__(self, name, position):
        self.name = name
        self.position = position

    def parse(self, d, block):
        d.next()
        return None

    def build(self, config, block, next):
        h = fakeplugins.Handler(self.name, lambda h, r: None, next)
        return h


AFTER_ERRORS = ThirdParty("zzz", ("after", "errors"))
BEFORE_ERRORS = ThirdParty("aaa", ("before", "errors"))
BEFORE_ERRORS_B = ThirdParty("bbb", ("before", "errors"))
NOWHERE = ThirdParty("nowhere", ("after", "nonexistent"))
MISNAMED = ThirdParty("othername", ("after", "errors"))


def ep(name, attr):
    return EntryPoint(name=name, value=f"test_registry:{attr}", group="skydns.plugins")


def chain_of(tmp_path, text, registry):
    p = tmp_path / "Corefile"
    p.write_text(text)
    gen = config.load(str(p), registry).build()
    return names(gen.blocks[0].chain)


def test_order_comes_from_registry_not_corefile(tmp_path):
    """Two Corefiles listing the same directives in different orders build the same chain."""
    reg = fakeplugins.registry()
    a = chain_of(tmp_path, ". {\n whoami\n answer 1.2.3.4\n errors\n}", reg)
    b = chain_of(tmp_path, ". {\n errors\n whoami\n answer 1.2.3.4\n}", reg)
    assert a == b == ["errors", "answer", "whoami"]


def test_builtin_order_is_specs():
    """The built-in order is the SPEC's relative order."""
    spec = ["prometheus", "errors", "log", "any", "chaos", "loadbalance", "acl", "cache",
            "dnssec", "stub", "etcd", "forward", "whoami"]
    assert [n for n in directives.ORDER if n in spec] == spec


def test_third_party_positions(tmp_path):
    """Third-party plugins go before/after their anchor; ties are ordered by name."""
    reg = Registry(entry_points=[ep("zzz", "AFTER_ERRORS"), ep("bbb", "BEFORE_ERRORS_B"),
                                 ep("aaa", "BEFORE_ERRORS")])
    chain = chain_of(tmp_path, ". {\n whoami\n zzz\n bbb\n errors\n aaa\n}", reg)
    assert chain == ["aaa", "bbb", "errors", "zzz", "whoami"]
    listed = [(i.name, i.position) for i in reg.describe()]
    assert ("zzz", "after errors") in listed
    assert [n for n, _ in listed].index("aaa") < [n for n, _ in listed].index("errors")


def test_bad_position_names_the_plugin(tmp_path):
    reg = Registry(entry_points=[ep("nowhere", "NOWHERE")])
    with pytest.raises(CorefileError, match=r"Corefile:2 - plugin 'nowhere' .* must declare position"):
        chain_of(tmp_path, ". {\n nowhere\n}", reg)


def test_misnamed_plugin(tmp_path):
    reg = Registry(entry_points=[ep("misnamed", "MISNAMED")])
    with pytest.raises(CorefileError, match="calls itself 'othername'"):
        chain_of(tmp_path, ". {\n misnamed\n}", reg)


def test_unloadable_plugin_only_matters_when_used(tmp_path):
    """A broken entry point is reported at the line that uses it, and not at all otherwise."""
    reg = Registry(entry_points=[EntryPoint("broken", "no_such_module:x", "skydns.plugins")])
    assert chain_of(tmp_path, ". {\n whoami\n}", reg) == ["whoami"]
    with pytest.raises(CorefileError, match=r"Corefile:3 - cannot load plugin 'broken'"):
        chain_of(tmp_path, ". {\n whoami\n broken\n}", reg)


def test_shadowing_and_clashes(tmp_path):
    """A third-party name equal to a built-in, or claimed twice, is refused naming both."""
    reg = Registry(entry_points=[ep("whoami", "AFTER_ERRORS")])
    with pytest.raises(CorefileError, match="shadows the built-in"):
        chain_of(tmp_path, ". {\n whoami\n}", reg)
    reg = Registry(entry_points=[ep("zzz", "AFTER_ERRORS"), ep("zzz", "BEFORE_ERRORS")])
    with pytest.raises(CorefileError, match="claimed by several"):
        chain_of(tmp_path, ". {\n zzz\n}", reg)


def test_unknown_and_unavailable_directives():
    reg = Registry(entry_points=[])
    assert reg.check("whoami") is None
    assert reg.check("whoam") == "unknown directive 'whoam' (did you mean 'whoami'?)"
    assert reg.check("chaos") is None and reg.check("acl") is None and reg.check("any") is None
    # A name in the order with no plugin behind it (a build without one, say) is named as such.
    partial = Registry(builtin={k: v for k, v in reg.builtin.items() if k != "chaos"}, entry_points=[])
    assert "not available in this version" in partial.check("chaos")
