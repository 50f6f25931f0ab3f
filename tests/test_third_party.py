"""A third-party plugin distribution, found through its entry point and placed by its position."""
import os
import subprocess
import sys

import pytest

from skydns import config, testing
from skydns.config.registry import Registry
from skydns.query.chain import names


def test_example_distribution_is_discovered():
    """skydns-txt is installed as a distribution; the registry sees it with its source."""
    reg = Registry()
    assert reg.check("txt") is None
    assert reg.source("txt").startswith("skydns-txt ")
    info = {i.name: i for i in reg.describe()}
    assert info["txt"].position == "after cache"


def test_example_plugin_in_a_corefile(tmp_path):
    """Used from a Corefile, it takes its place in the chain (after errors, before whoami) and answers."""
    p = tmp_path / "Corefile"
    p.write_text(".:0 {\n whoami\n txt hello.example. \"hi there\"\n errors\n}\n")
    assert names(config.load(str(p)).build().blocks[0].chain) == ["errors", "txt", "whoami"]
    with testing.serve(p.read_text(), tmp_path) as srv:
        assert testing.rrsets(srv.query("hello.example.", "TXT")) == ['hello.example. 300 IN TXT "hi there"']
        assert srv.query("other.example.", "A").additional[0].rdtype == 1


@pytest.mark.integration
def test_skydns_plugins_lists_it():
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "skydns"), "plugins"],
                         capture_output=True, text=True, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("txt ")][0]
    assert "skydns-txt 0.1.0" in line and "(after cache)" in line
