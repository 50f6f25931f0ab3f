"""Corefiles written the way CoreDNS's plugin READMEs write their examples, for the plugins skydns has: each is
accepted by `skydns validate`, then served and queried once."""
import os
import pathlib
import ssl
import subprocess

import dns.message
import dns.query
import dns.rcode
import pytest

from helpers import make_pki
from helpers.processes import BIN, ROOT, env
from skydns import testing

pytestmark = pytest.mark.integration
HERE = pathlib.Path(__file__).parent / "corefiles"
FILES = sorted(HERE.glob("*.Corefile"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_is_accepted_served_and_answers(tmp_path, data, ups, path):
    up = ups()
    pki = make_pki(tmp_path)
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    port = testing.free_port()
    values = {"port": port, "etcd": data.server.url, "path": data.path, "upstream": up.addr,
              "health": testing.free_port(), "ready": testing.free_port(), "metrics": testing.free_port(),
              "cert": pki["server"], "key": pki["server_key"]}
    text = path.read_text()
    for k, v in values.items():
        text = text.replace("{" + k + "}", str(v))
    corefile = tmp_path / "Corefile"
    corefile.write_text(text)
    out = subprocess.run([os.path.join(BIN, "skydns"), "validate", "-c", str(corefile)], capture_output=True,
                         text=True, timeout=60, env=env(), cwd=ROOT)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr
    with testing.serve(text, tmp_path) as srv:
        name = "web.skydns.local." if "skydns.local" in text.split("{", 1)[0] else "www.example.org."
        q = dns.message.make_query(name, "A")
        if text.lstrip("# \n").split("\n", 1)[-1].lstrip().startswith("tls://") or "tls://" in text:
            ctx = ssl.create_default_context(cafile=pki["ca"])
            r = dns.query.tls(q, "127.0.0.1", port=port, ssl_context=ctx, server_hostname="localhost", timeout=5)
        else:
            r = srv.query(name, "A", port=port)
        assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), (path.name, r)
        if name == "web.skydns.local.":
            assert r.answer and r.answer[-1][0].address == "10.0.0.1", (path.name, r)
