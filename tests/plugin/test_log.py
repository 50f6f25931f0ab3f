"""log: CoreDNS's format and placeholders, class and name filters, JSON, through twisted.logger."""
import json
import re

import dns.message
import pytest

from helpers import Logged, fakeplugins
from skydns import testing
from skydns.query.chain import next_or_failure


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


def test_local_and_metadata_placeholders(tmp_path):
    """{local}: the listener's address; {/log/class} and {/log/type} as CoreDNS's log sets them; other
    metadata labels (no metadata plugin here) are '-'."""
    text = ('example.:0 {\n bind 127.0.0.1\n log . "{local} {/log/class} {/log/type} {/kubernetes/pod}"\n'
            ' records example. {\n  a 60 IN A 10.0.0.1\n }\n}\n')
    lines = logged_lines(text, tmp_path, [("a.example.", "A"), ("a.example.", "MX"), ("b.example.", "A")],
                         testing.registry(testing.RecordsSetup()))
    lines = [line for text in lines for line in text.splitlines()]  # written in batches
    assert lines == ["127.0.0.1 success NOERROR -", "127.0.0.1 denial NODATA -", "127.0.0.1 denial NXDOMAIN -"]


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


def test_cached_replies_are_logged(tmp_path):
    """Every reply gets its line, those the cache sends included (log observes the block's replies)."""
    lines = logged_lines(".:0 {\n log\n cache\n answer 10.0.0.1\n}\n", tmp_path,
                         [("www.example.org.", "A")] * 4, fakeplugins.registry())
    lines = "\n".join(lines).split("\n")  # lines close together are written as one event
    assert len(lines) == 4 and all('"A IN www.example.org. udp' in line and " NOERROR " in line for line in lines)


def test_json(tmp_path):
    (line,) = logged_lines(".:0 {\n log {\n  json\n }\n whoami\n}\n", tmp_path, [("a.example.", "A")])
    obj = json.loads(line)
    assert obj["name"] == "a.example." and obj["rcode"] == "NOERROR" and obj["proto"] == "udp"
    assert set(obj) >= {"remote", "port", "id", "type", "class", "size", "do", "bufsize", "rflags", "rsize", "duration"}


def test_bad_log_config(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
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


@pytest.mark.parametrize("client,wire_query,reply_flags", [
    (("127.0.0.1", 5353), dns.message.make_query("a.example.", "A"), 0x8580),
    (("::1", 40000), dns.message.make_query("b.example.", 65280, rdclass="CH", use_edns=0, want_dnssec=True), 0x8713),
    (("10.1.2.3", 1), dns.message.make_query("c.example.", "TYPE300", rdclass=254), 0x8392),
])
def test_compiled_fields_match_the_field_functions(client, wire_query, reply_flags):
    """The generated line and the JSON option give the same text for every placeholder."""
    from skydns.plugin.log.format import FIELDS, compile_format
    from skydns.query.request import Request

    req = Request(wire_query.to_wire(), client, "udp")
    reply = bytearray(wire_query.to_wire())
    reply[2:4] = reply_flags.to_bytes(2, "big")
    reply = bytes(reply)
    now = req.started + 0.000123456
    line = compile_format(" ".join("{" + name + "}" for name in FIELDS))(req, reply, now)
    assert line.split(" ") == [fn(req, reply, now) for fn in FIELDS.values()]


def test_plugins_publish_labels_the_log_prints(tmp_path):
    """A plugin publishes {/plugin/label} for a query (request.set_meta); log prints it, '-' when unset,
    and the JSON line carries them; on the kit's Harness and clock (log writes in batches)."""
    def tag(h, request):
        if request.qname.startswith("tagged."):
            request.set_meta("tagger/why", "because")
            request.set_meta("tagger/late", lambda: "computed")
        return next_or_failure(h.name, h.next, request)

    reg = testing.registry(fakeplugins.Setup("tagger", tag), *fakeplugins.SETUPS.values())
    h = testing.Harness('.:53 {\n log . "{name} {/tagger/why} {/tagger/late}"\n tagger\n answer 10.0.0.1\n}\n'
                        'json.:53 {\n log {\n  json\n }\n tagger\n answer 10.0.0.1\n}\n', reg,
                        directory=str(tmp_path))
    with Logged() as logged:
        h.ask("tagged.example.", "A")
        h.ask("plain.example.", "A")
        h.ask("tagged.json.", "A")
        h.clock.advance(5)
    lines = [line for text in logged.lines("skydns.plugin.log") for line in text.splitlines()]
    plain = [line for line in lines if not line.startswith("{")]
    (as_json,) = [json.loads(line) for line in lines if line.startswith("{")]  # each block logs in its batch
    assert plain == ["tagged.example. because computed", "plain.example. - -"]
    assert as_json["meta"] == {"tagger/why": "because", "tagger/late": "computed"}
