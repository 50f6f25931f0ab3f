"""The test kit in-process: requests from dnspython messages, a handler run with a Recorder, a whole Corefile
answered through the real server code on a task.Clock."""
import dns.flags
import dns.message
import dns.rcode
from twisted.internet import task
from zope.interface import implementer

from skydns import testing
from skydns.interfaces import IHandler, IPluginSetup, IReadiness


@implementer(IHandler)
class Later:
    """Answers every query 5 seconds later (a Deferred on block.clock), and counts them."""

    name = "later"

    def __init__(self, clock, next=None):
        self.clock, self.next, self.seen = clock, next, 0

    def serve(self, request):
        self.seen += 1
        return task.deferLater(self.clock, 5, lambda: request.reply(authoritative=True))


@implementer(IPluginSetup)
class LaterSetup:
    name = "later"
    position = None

    def parse(self, d, block):
        d.next()
        d.args(0)
        return None

    def build(self, config, block, next):
        handler = Later(block.clock, next)
        block.provide(Ready())
        return handler


@implementer(IReadiness)
class Ready:
    name = "later"

    def ready(self):
        return None


def test_request_from_a_message_keeps_what_the_client_sent():
    q = dns.message.make_query("WwW.Example.ORG.", "AAAA", use_edns=0, payload=1400, want_dnssec=True)
    req = testing.request(q, client=("2001:db8::1", 4000), proto="tcp")
    assert (req.qname, req.qtype, req.bufsize, req.do, req.client, req.proto) == \
        ("www.example.org.", 28, 1400, True, ("2001:db8::1", 4000), "tcp")
    assert req.message.question[0].name.to_text() == "WwW.Example.ORG."


def test_run_delivers_what_a_handler_answers_and_servfail_when_it_raises():
    """run() ends the request as the server would: rendered and recorded; an exception is SERVFAIL."""
    ok = testing.run(Answer(), testing.request("a.example."))
    assert ok.reply.rcode() == dns.rcode.NOERROR and ok.reply.flags & dns.flags.AA
    broken = testing.run(Raises(), testing.request("a.example."))
    assert broken.reply.rcode() == dns.rcode.SERVFAIL


@implementer(IHandler)
class Answer:
    name, next = "answer", None

    def serve(self, request):
        return request.reply(authoritative=True)


@implementer(IHandler)
class Raises:
    name, next = "raises", None

    def serve(self, request):
        raise ValueError("no")


def test_harness_answers_through_the_server_on_the_clock():
    """A Deferred answer arrives when the test moves the clock; names no block serves are REFUSED."""
    h = testing.Harness("example.org {\n later\n}\n", testing.registry(LaterSetup()))
    recorder = h.send(testing.query("www.example.org.", "A"))
    assert recorder.sent == [] and h.generation.inflight == 1
    h.clock.advance(5)
    assert recorder.reply.rcode() == dns.rcode.NOERROR and h.generation.inflight == 0
    assert h.ask("www.example.net.", "A").rcode() == dns.rcode.REFUSED
    assert [type(p).__name__ for p in h.find(IReadiness)] == ["Ready"]
    h.close()


def test_corefile_errors_carry_file_and_line():
    assert testing.error("example.org {\n later 3\n}\n", testing.registry(LaterSetup())) == \
        "Corefile:2 - plugin/later: wrong argument count or unexpected line ending after '3'"
    setup = LaterSetup()
    assert testing.parsed("example.org {\n later\n}\n", setup, testing.registry(setup)) == [None]
