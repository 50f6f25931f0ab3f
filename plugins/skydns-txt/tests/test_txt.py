"""The txt plugin, installed as a distribution and used from a Corefile through its entry point."""
import importlib.metadata

import dns.rcode
import pytest

from skydns import config, testing
from skydns.config.errors import CorefileError


def test_entry_point_is_installed():
    eps = importlib.metadata.entry_points(group="skydns.plugins")
    assert "txt" in [ep.name for ep in eps]


def test_answers_txt_and_passes_the_rest_on(tmp_path):
    text = ".:0 {\n whoami\n txt motd.example.org. \"hello world\" second\n txt Other.Example.org. x\n}\n"
    with testing.serve(text, tmp_path) as srv:
        r = srv.query("MOTD.example.org.", "TXT")
        assert r.rcode() == dns.rcode.NOERROR
        assert testing.rrsets(r) == ['MOTD.example.org. 300 IN TXT "hello world" "second"']
        r = srv.query("motd.example.org.", "A")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer and not r.additional  # NODATA
        r = srv.query("www.example.org.", "A")
        assert r.additional[0].rdtype == dns.rdatatype.A  # whoami answered


def test_relative_names_and_zone_check(tmp_path):
    p = tmp_path / "Corefile"
    p.write_text("example.org:0 {\n txt motd hi\n whoami\n}\n")
    block = config.load(str(p)).blocks[0]
    assert block[1][0][2] == {"motd.example.org.": ["hi"]}
    p.write_text("example.org:0 {\n txt motd.example.net. hi\n}\n")
    with pytest.raises(CorefileError, match=r"Corefile:2 - plugin/txt: 'motd.example.net.' is outside"):
        config.load(str(p))
    p.write_text("example.org:0 {\n txt motd\n}\n")
    with pytest.raises(CorefileError, match="wrong argument count"):
        config.load(str(p))
