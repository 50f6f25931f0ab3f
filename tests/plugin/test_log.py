"""log: CoreDNS's format and placeholders, class and name filters, JSON, through twisted.logger."""
import json
import re

import dns.message
import pytest

import fakeplugins
from logcapture import Logged
from skydns import testing


def logged_lines(corefile, tmp_path, queries, registry=None):
    with Logged() as logged, testing.serve(corefile, tmp_path, registry) as srv:
        for args in queries:
            name, qtype, kw = args if len(args) == 3 else (*args, {})
            srv.query(name, qtype, **kw)
    return logged.lines("skydns.plugin.log")


def test_default_common_format(tmp_path):
    """The default line is CoreDNS's common format, with the reply's real rcode, flags and size."""
    (line,) = logged_lines(".:0 {\n log\n whoami\n}\n", tmp_path, [("Example.ORG.", "AAAA")])
    m = re.fullmatch(r'127\.0\.0\.1:(\d+) - (\d+) "AAAA IN example\.org\. udp (\d+) false 512" '
                     r'NOERROR qr,aa,rd (\d+) (\d\.\d+)s', line)
    assert m, line
    assert int(m.group(3)) == len(dns.message.make_query("Example.ORG.", "AAAA").to_wire())


def test_every_placeholder(tmp_path):
    fmt = '"{remote} {port} {id} {>id} {type} {class} {name} {proto} {size} {>do} {>bufsize} {rcode} {>rflags} {rsize} {duration} {>opcode}"'
    (line,) = logged_lines(f".:0 {{\n log . {fmt}\n whoami\n}}\n", tmp_path,
                           [("a.example.", "TXT", dict(use_edns=0, want_dnssec=True, payload=4000, tcp=True))])
    parts = line.split(" ")
    assert parts[0] == "127.0.0.1" and parts[2] == parts[3]
    assert parts[4:8] == ["TXT", "IN", "a.example.", "tcp"]
    assert parts[9:14] == ["true", "4000", "NOERROR", "qr,aa,rd", parts[13]] and int(parts[13]) > 0
    assert parts[14].endswith("s") and parts[15] == "QUERY"


def test_ipv6_remote_in_brackets(tmp_path):
    (line,) = logged_lines(".:0 {\n log\n whoami\n}\n", tmp_path, [("a.", "A", dict(host="::1"))])
    assert line.startswith("[::1]:")


def test_classes_and_names(tmp_path):
    """class filters by success/denial/error; NAMES limits to zones."""
    reg = fakeplugins.registry()
    text = (".:0 {\n log example.org {\n  class denial error\n }\n boom\n}\n"
            "example.org:0 {\n log example.org {\n  class denial error\n }\n answer 10.0.0.1\n}\n")
    lines = logged_lines(text, tmp_path, [("example.org.", "A"), ("x.other.", "A")], reg)
    assert lines == []  # success in example.org is filtered; x.other. is outside NAMES
    # whoami's reply has no answer records: NODATA, a denial.
    text = ".:0 {\n log {\n  class denial\n }\n whoami\n}\n"
    assert len(logged_lines(text, tmp_path, [("a.example.", "A")], reg)) == 1
    text = ".:0 {\n log {\n  class error\n }\n boom\n}\n"
    lines = logged_lines(text, tmp_path, [("x.other.", "A")], reg)
    assert len(lines) == 1 and "SERVFAIL" in lines[0]


def test_json(tmp_path):
    (line,) = logged_lines(".:0 {\n log {\n  json\n }\n whoami\n}\n", tmp_path, [("a.example.", "A")])
    obj = json.loads(line)
    assert obj["name"] == "a.example." and obj["rcode"] == "NOERROR" and obj["proto"] == "udp"
    assert set(obj) >= {"remote", "port", "id", "type", "class", "size", "do", "bufsize", "rflags", "rsize", "duration"}


def test_bad_log_config(tmp_path):
    from skydns import config
    from skydns.errors import CorefileError
    for body, message in (("log . \"{nope}\"", "unknown placeholder {nope}"),
                          ("log {\n  class loud\n }", "unknown class 'loud'"),
                          ("log {\n  colour red\n }", "unknown property 'colour'")):
        (tmp_path / "Corefile").write_text(". {\n " + body + "\n whoami\n}\n")
        with pytest.raises(CorefileError) as e:
            config.load(str(tmp_path / "Corefile"))
        assert message in str(e.value) and "plugin/log" in str(e.value)


def test_format_literal_text_is_kept_as_written():
    """Quotes, backslashes and lone braces around placeholders are copied as they are."""
    from skydns.plugin.log.format import compile_format

    class R:
        qname = "a."
    f = compile_format('x "{name}" { \\ back } \'q\' {rcode}')
    assert f(R(), b"\x00\x00\x81\x03", 0) == 'x "a." { \\ back } \'q\' NXDOMAIN'
