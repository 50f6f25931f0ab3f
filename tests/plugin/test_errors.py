"""errors: one line per error with the query, SERVFAIL, and consolidation per period."""
import re

import dns.message
import dns.rcode
from twisted.internet import defer, task
from twisted.logger import LogLevel, globalLogPublisher

from skydns.plugin.errors.errors import Errors, Pattern
from skydns.query.chain import HandlerFunc
from skydns.query.request import Request


def req(name="fail.example.org."):
    return Request(dns.message.make_query(name, "AAAA").to_wire(), ("127.0.0.1", 1), "udp")


class Captured:
    def __init__(self):
        self.events = []

    def __enter__(self):
        globalLogPublisher.addObserver(self.events.append)
        return self

    def __exit__(self, *a):
        globalLogPublisher.removeObserver(self.events.append)

    def lines(self, namespace="skydns.plugin.errors"):
        from twisted.logger import formatEvent
        return [(e["log_level"], formatEvent(e)) for e in self.events if e.get("log_namespace") == namespace]


def raiser(r):
    raise OSError("read udp 127.0.0.1:53: i/o timeout")


def test_error_logged_with_query_and_servfail():
    """An exception below errors is logged once as 'RCODE NAME TYPE: error' and answered SERVFAIL."""
    h = Errors(HandlerFunc("x", raiser), [], reactor=task.Clock())
    with Captured() as c:
        out = h.serve(req())
    assert dns.message.from_wire(out).rcode() == dns.rcode.SERVFAIL
    (level, line), = c.lines()
    assert level == LogLevel.error
    assert line.startswith("2 fail.example.org. AAAA: OSError: read udp 127.0.0.1:53: i/o timeout (at ")
    assert "test_errors.py" in line


def test_failed_deferred_is_reported():
    d = defer.Deferred()
    h = Errors(HandlerFunc("x", lambda r: d), [], reactor=task.Clock())
    with Captured() as c:
        result = h.serve(req())
        d.errback(ValueError("late"))
    reply = []
    result.addCallback(reply.append)
    assert dns.message.from_wire(reply[0]).rcode() == dns.rcode.SERVFAIL
    assert "ValueError: late" in c.lines()[0][1]


def test_consolidate_counts_per_period():
    """Errors matching a consolidate pattern become one line per period with the count."""
    clock = task.Clock()
    h = Errors(HandlerFunc("x", raiser), [Pattern(300.0, re.compile("i/o timeout"), "warning")], reactor=clock)
    with Captured() as c:
        for _ in range(5):
            h.serve(req())
        assert c.lines() == []
        clock.advance(300)
        h.serve(req())
        clock.advance(300)
    assert c.lines() == [
        (LogLevel.warn, "5 errors like 'i/o timeout' occurred in last 5m0s"),
        (LogLevel.warn, "1 errors like 'i/o timeout' occurred in last 5m0s"),
    ]


def test_consolidate_show_first():
    """show_first: the first error of a period is logged at once; the summary only when more followed."""
    clock = task.Clock()
    pattern = Pattern(300.0, re.compile("i/o timeout"), "warning", show_first=True)
    h = Errors(HandlerFunc("x", raiser), [pattern], reactor=clock)
    with Captured() as c:
        for _ in range(3):
            h.serve(req())
        assert len(c.lines()) == 1 and "i/o timeout" in c.lines()[0][1] and c.lines()[0][0] == LogLevel.warn
        clock.advance(300)
        assert c.lines()[1] == (LogLevel.warn, "3 errors like 'i/o timeout' occurred in last 5m0s")
        h.serve(req())  # alone in its period: logged once, no summary
        clock.advance(300)
    assert len(c.lines()) == 3 and "i/o timeout" in c.lines()[2][1]


def test_show_first_in_the_corefile(tmp_path):
    from skydns import config
    (tmp_path / "Corefile").write_text('. {\n errors {\n  consolidate 5m ".* i/o timeout$" warning show_first\n'
                                       '  consolidate 30s "^Failed to .+" show_first\n }\n whoami\n}\n')
    cfg = config.load(str(tmp_path / "Corefile"))
    patterns, _ = cfg.blocks[0][1][0][2]
    assert [(p.level, p.show_first) for p in patterns] == [("warning", True), ("error", True)]


def test_other_errors_not_consolidated():
    clock = task.Clock()
    h = Errors(HandlerFunc("x", lambda r: 1 / 0), [Pattern(60.0, re.compile("timeout"), "error")], reactor=clock)
    with Captured() as c:
        h.serve(req())
    assert "ZeroDivisionError" in c.lines()[0][1]


def test_errors_corefile_validation(tmp_path):
    import pytest

    from skydns import config
    from skydns.config.errors import CorefileError
    cases = {
        "errors {\n consolidate 5m\n}": "Corefile:3 - plugin/errors: wrong argument count",
        "errors {\n consolidate 5x .*\n}": "Corefile:3 - plugin/errors: '5x' is not a duration",
        "errors {\n consolidate 5m ( \n}": "Corefile:3 - plugin/errors: bad regexp",
        "errors {\n consolidate 5m .* loud\n}": "unknown log level 'loud'",
        "errors {\n nope\n}": "Corefile:3 - plugin/errors: unknown property 'nope'",
        "errors\nerrors": "Corefile:3 - plugin/errors: this plugin can only be used once",
    }
    for body, message in cases.items():
        p = tmp_path / "Corefile"
        p.write_text(". {\n" + body + "\nwhoami\n}\n")
        with pytest.raises(CorefileError) as e:
            config.load(str(p))
        assert message in str(e.value), body
