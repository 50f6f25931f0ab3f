"""The combination kit: examples merged into one block (each directive once), pairs from the registry."""
from zope.interface import implementer

from skydns import testing
from skydns.config.registry import Registry
from skydns.interfaces import IPluginSetup
from skydns.testing import combinations

FILLS = {k: f"<{k}>" for k in combinations.PLACEHOLDERS}


@implementer(IPluginSetup)
class Newcomer:
    name = "newcomer"
    position = ("after", "cache")
    example = "newcomer ${zone} {\n    deep {\n        deeper\n    }\n}"

    def parse(self, d, block):
        while d.next():
            pass

    def build(self, cfg, block, next):
        return None


def test_a_registered_plugin_joins_every_pair():
    registry = testing.registry(Newcomer())
    pairs = combinations.pairs(registry, base=("etcd",))
    others = [n for n in registry.names() if n not in ("etcd", "newcomer")]
    assert sorted(b if a == "newcomer" else a for a, b in pairs if "newcomer" in (a, b)) == sorted(others)
    text = combinations.corefile("example.org:53", ("newcomer", "whoami"), registry, FILLS, base=())
    assert text == ("example.org:53 {\n    newcomer <zone> {\n        deep {\n            deeper\n        }\n    }\n"
                    "    whoami\n}\n")


def test_a_directive_an_example_brings_along_is_written_once():
    text = combinations.corefile("z:53", ("update", "tsig"), Registry(), FILLS, base=())
    assert text.count("tsig {") == 1 and text.count("update <zone> {") == 1
    assert combinations.example(testing.registry(), "whoami") == "whoami"
