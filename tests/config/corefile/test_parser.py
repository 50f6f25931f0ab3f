"""Corefile syntax: keys, blocks, directives, comments, quotes, env, snippets, imports, errors."""
import pytest

from skydns.config.corefile import parse_text
from skydns.config.corefile.lexer import tokenize
from skydns.config.corefile.parser import parse_file, reverse_zones
from skydns.config.errors import CorefileError


def anything(name):
    return None


def parse(text, env=None, file="Corefile", check=anything):
    blocks, _ = parse_text(text, file, check, environ=env or {})
    return blocks


def shape(blocks):
    """Blocks as [(keys, [(directive, [token texts])])] for easy comparison."""
    return [
        ([f"{k.zone}:{k.port}" for k in b.keys],
         [(d.name, [t.text for t in d.tokens[1:]]) for d in b.directives])
        for b in blocks
    ]


# Corefiles from CoreDNS's documentation (the manual and plugin READMEs).
COREDNS_MANUAL = """
coredns.io:5300 {
    file db.coredns.io
}

example.io:53 {
    log
    errors
    file db.example.io
}

example.net:53 {
    file db.example.net
}

.:53 {
    kubernetes
    forward . 8.8.8.8
    log
    errors
    cache
}
"""


def test_coredns_manual_example():
    """The multi-block example of CoreDNS's manual parses into four blocks."""
    assert shape(parse(COREDNS_MANUAL)) == [
        (["coredns.io.:5300"], [("file", ["db.coredns.io"])]),
        (["example.io.:53"], [("log", []), ("errors", []), ("file", ["db.example.io"])]),
        (["example.net.:53"], [("file", ["db.example.net"])]),
        ([".:53"], [("kubernetes", []), ("forward", [".", "8.8.8.8"]), ("log", []),
                    ("errors", []), ("cache", [])]),
    ]


def test_coredns_etcd_readme_example():
    """The etcd plugin README's Corefile: nested block with several properties."""
    text = """
. {
    etcd skydns.local {
        stubzones
        path /skydns
        endpoint http://localhost:2379
        upstream
    }
    prometheus
    cache 160 skydns.local
    loadbalance
    forward . 8.8.8.8:53 8.8.4.4:53
}
"""
    b = parse(text)[0]
    etcd = b.directives[0]
    assert [t.text for t in etcd.tokens] == [
        "etcd", "skydns.local", "{", "stubzones", "path", "/skydns", "endpoint",
        "http://localhost:2379", "upstream", "}"]
    assert b.names() == ["etcd", "prometheus", "cache", "loadbalance", "forward"]


def test_seed_corefile_with_zones_property():
    """The CoreDNS article's Corefile (seed 003)."""
    text = """.:53 {
    etcd {
        zones dev
        path /skydns
    }
    cache 30
    forward . 8.8.8.8
    reload
    log
}"""
    assert shape(parse(text))[0][1] == [
        ("etcd", ["{", "zones", "dev", "path", "/skydns", "}"]),
        ("cache", ["30"]), ("forward", [".", "8.8.8.8"]), ("reload", []), ("log", []),
    ]


def test_several_keys_schemes_and_default_port():
    """Keys: several per block, comma or space separated, dns:// prefix, default port."""
    blocks = parse("dns://example.org:1053 example.net,\n  example.com {\n whoami\n}\n")
    assert [f"{k.zone}:{k.port}" for k in blocks[0].keys] == [
        "example.org.:1053", "example.net.:53", "example.com.:53"]
    blocks, _ = parse_text("Example.ORG {\n whoami\n}", "C", anything, default_port=1053)
    assert blocks[0].keys[0].zone == "example.org." and blocks[0].keys[0].port == 1053


def test_transport_schemes_and_their_default_ports():
    """tls:// (853) and https:// (443) as CoreDNS writes them; an explicit port wins; dns:// takes -p."""
    blocks, _ = parse_text("tls://example.org https://example.net:8443 dns://example.com {\n whoami\n}\n",
                           "C", anything, default_port=1053)
    keys = blocks[0].keys
    assert [(k.zone, k.port, k.transport) for k in keys] == [
        ("example.org.", 853, "tls"), ("example.net.", 8443, "https"), ("example.com.", 1053, "dns")]


def test_reverse_zone_keys():
    """CIDR keys become reverse zones, widened to label boundaries as CoreDNS does."""
    assert reverse_zones("10.0.0.0/24") == ["0.0.10.in-addr.arpa."]
    assert reverse_zones("10.0.0.0/8") == ["10.in-addr.arpa."]
    assert reverse_zones("10.0.0.0/23") == ["0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa."]
    assert reverse_zones("2001:db8::/32") == ["8.b.d.0.1.0.0.2.ip6.arpa."]
    b = parse("10.0.0.0/24:1053 {\n whoami\n}")[0]
    assert (b.keys[0].zone, b.keys[0].port) == ("0.0.10.in-addr.arpa.", 1053)


def test_comments_and_quotes():
    """# comments to end of line; quoted strings keep spaces, newlines and escaped quotes."""
    text = '''# a comment
. { # another
    txt "hello world" `raw \\n text` "say \\"hi\\""  # trailing
    txt "two
lines" next
}
'''
    b = parse(text)[0]
    assert [[t.text for t in d.tokens] for d in b.directives] == [
        ["txt", "hello world", "raw \\n text", 'say "hi"'],
        ["txt", "two\nlines", "next"],
    ]
    assert b.directives[1].tokens[2].line == 5


def test_env_substitution():
    """{$VAR} and {$VAR:default} are replaced from the environment, in keys and arguments."""
    text = ".:{$PORT} {\n forward . {$UPSTREAM} {$MISSING:9.9.9.9}\n}"
    b = parse(text, env={"PORT": "1053", "UPSTREAM": "127.0.0.1:5300"})[0]
    assert b.keys[0].port == 1053
    assert [t.text for t in b.directives[0].tokens] == ["forward", ".", "127.0.0.1:5300", "9.9.9.9"]


def test_snippets_and_import():
    """A snippet is imported where 'import NAME' stands, in blocks and with its tokens' lines."""
    text = """(common) {
    errors
    log
}
example.org {
    import common
    whoami
}
example.net {
    import common
}
"""
    blocks = parse(text)
    assert [b.names() for b in blocks] == [["errors", "log", "whoami"], ["errors", "log"]]
    assert blocks[0].directives[0].line == 2


def test_import_files(tmp_path):
    """import FILE_GLOB reads files relative to the importing file, sorted; both blocks and directives."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("example.net {\n whoami\n}\n")
    (tmp_path / "conf.d" / "a.conf").write_text("example.com {\n import ../plugins.inc\n}\n")
    (tmp_path / "plugins.inc").write_text("errors\nwhoami\n")
    main = tmp_path / "Corefile"
    main.write_text(". {\n whoami\n}\nimport conf.d/*.conf\nimport nothing/*.conf\n")
    blocks, files = parse_file(str(main), anything)
    assert [b.keys[0].zone for b in blocks] == [".", "example.com.", "example.net."]
    assert blocks[1].names() == ["errors", "whoami"]
    assert blocks[1].directives[0].file.endswith("plugins.inc")
    assert files[0] == str(main) and len(files) == 4


def test_unbraced_single_block():
    """With a single server block the braces may be left out."""
    assert shape(parse("example.org:1053\nwhoami\nerrors\n")) == [
        (["example.org.:1053"], [("whoami", []), ("errors", [])])]


def test_nested_blocks():
    """A directive's block may itself hold blocks."""
    b = parse(". {\n a {\n  b {\n   c 1\n  }\n  d 2\n }\n e\n}\n")[0]
    assert b.names() == ["a", "e"]
    assert [t.text for t in b.directives[0].tokens] == ["a", "{", "b", "{", "c", "1", "}", "d", "2", "}"]


@pytest.mark.parametrize("text, line, words", [
    (". {\n whoami\n", 1, "never closed"),
    (". {\n txt \"open\n}\n", 2, "unterminated quoted string"),
    (". {\n whoami\n}\n}\n", 4, "expected a server block key"),
    ("grpc://.:853 {\n whoami\n}\n", 1, "unsupported scheme 'grpc://'"),
    ("quic://. {\n whoami\n}\n", 1, "serves dns:// (UDP and TCP), tls:// (DNS over TLS) and https://"),
    (".:99999 {\n whoami\n}\n", 1, "port 99999 out of range"),
    ("example.org {\n whoami\n}\nexample.net\n", 4, "expected '{'"),
    (". {\n import missing\n}\n", 2, "no snippet named 'missing'"),
    (". {\n import a b\n}\n", 2, "exactly one argument"),
    ("(s) {\n import s\n}\n. {\n import s\n}\n", 2, "nested more than"),
    ("10.0.0.1/24 {\n whoami\n}\n", 1, "bad CIDR"),
    ("", None, "no server blocks"),
])
def test_syntax_errors_name_file_and_line(text, line, words):
    """Every syntax error names the file and line and says what was expected."""
    with pytest.raises(CorefileError) as e:
        parse(text, file="/etc/Corefile")
    assert words in str(e.value)
    if line is not None:
        assert str(e.value).startswith(f"/etc/Corefile:{line} - ")


def test_unknown_directive_is_an_error_at_parse_time():
    """The directive check runs on every directive with its line."""
    def check(name):
        return None if name == "whoami" else f"unknown directive '{name}'"
    with pytest.raises(CorefileError) as e:
        parse(". {\n whoami\n\n whoamii\n}\n", check=check)
    assert str(e.value) == "Corefile:4 - unknown directive 'whoamii'"


def test_tokens_carry_lines():
    toks = tokenize("a b\n\nc # x\n  d", "F")
    assert [(t.text, t.line) for t in toks] == [("a", 1), ("b", 1), ("c", 3), ("d", 4)]
