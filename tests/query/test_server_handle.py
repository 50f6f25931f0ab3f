"""Server.handle called directly through the test kit (Harness, Recorder): no sockets, no waiting.

What the server does with every packet (parse, route, run the chain, render,
truncate, notify observers) and the raw path through the interfaces plugins
declare (IRawAnswerer, IRawTransparent, IRawReplyFilter).
"""
import random
import struct

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.update
import pytest
from twisted.internet import defer, task
from zope.interface import alsoProvides, implementer

from helpers import Logged, fakeplugins
from skydns import testing
from skydns.interfaces import (
    IHandler,
    IPluginSetup,
    IRawAnswerer,
    IRawReplyFilter,
    IRawRewriter,
    IRawTransparent,
    IUpdater,
)
from skydns.query.chain import next_or_failure, post_process
from skydns.query.rename import rename
from skydns.query.reply import MessageStream
from skydns.query.server import Server

CLIENT = testing.CLIENT


Sender = testing.Recorder


def make_server(tmp_path, body: str, *setups, zones: str = "."):
    """The Server of a Corefile ``zones:53 { body }`` built by the kit's Harness (not started: no I/O)."""
    registry = testing.registry(*setups, *fakeplugins.SETUPS.values())
    h = testing.Harness(f"{zones.replace(' ', ':53 ')}:53 {{\n{body}\n}}\n", registry, directory=str(tmp_path))
    return h.server(), h.generation


def query(name="www.example.org.", qtype="A", **kw) -> bytes:
    return dns.message.make_query(name, qtype, **kw).to_wire()


def test_garbage_gets_formerr_or_nothing_and_never_raises(tmp_path):
    """Two thousand random packets: each gets FORMERR (readable header, not a response) or nothing."""
    server, _ = make_server(tmp_path, " whoami")
    rnd = random.Random(11)
    for _ in range(2000):
        packet = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 80)))
        sender = Sender()
        server.handle(packet, CLIENT, "udp", sender)
        for data, client in sender.sent:
            assert client == CLIENT
            qid, flags = struct.unpack_from("!HH", data)
            assert qid == struct.unpack_from("!H", packet)[0] and flags & 0x8000
        if len(packet) < 12 or packet[2] & 0x80:
            assert sender.sent == []  # no header, or a response: never answered


@pytest.mark.parametrize("packet, rcode", [
    (b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05abc", dns.rcode.FORMERR),  # truncated name
    (b"\xab\xcd\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00" + b"\x01a\x00\x00\x01\x00\x01" * 2, dns.rcode.FORMERR),
])
def test_unreadable_queries_get_formerr(tmp_path, packet, rcode):
    server, _ = make_server(tmp_path, " whoami")
    sender = Sender()
    server.handle(packet, CLIENT, "udp", sender)
    (reply,) = sender.replies
    assert reply.id == 0xABCD and reply.rcode() == rcode


def test_responses_are_never_answered(tmp_path):
    server, _ = make_server(tmp_path, " whoami")
    sender = Sender()
    server.handle(dns.message.make_response(dns.message.make_query("a.example.", "A")).to_wire(), CLIENT, "udp",
                  sender)
    assert sender.sent == []


def test_opcodes_versions_and_zones(tmp_path):
    """Other opcodes: NOTIMP; EDNS version 1: BADVERS; a name no block serves: REFUSED."""
    server, _ = make_server(tmp_path, " whoami", zones="example.org")
    cases = []
    q = dns.message.make_query("www.example.org.", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    cases.append((q.to_wire(), dns.rcode.NOTIMP))
    cases.append((query(use_edns=1), dns.rcode.BADVERS))
    cases.append((query("www.example.net."), dns.rcode.REFUSED))
    for packet, rcode in cases:
        sender = Sender()
        server.handle(packet, CLIENT, "udp", sender)
        (reply,) = sender.replies
        assert reply.rcode() == rcode


def test_raising_handler_is_servfail_and_logged_once(tmp_path):
    server, _ = make_server(tmp_path, " boom")
    sender = Sender()
    with Logged() as logged:
        server.handle(query(), CLIENT, "udp", sender)
    (reply,) = sender.replies
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert len([e for e in logged.events if "boom for www.example.org." in str(e.get("log_failure", ""))]) == 1


def test_dropped_sent_nothing_and_deferred_sent_later(tmp_path):
    """None sends nothing; a Deferred's answer is sent when it fires, counted in flight until then."""
    server, gen = make_server(tmp_path, " drop")
    sender = Sender()
    server.handle(query(), CLIENT, "udp", sender)
    assert sender.sent == []

    server, gen = make_server(tmp_path, " slow 2 10.0.0.9")
    clock = gen.blocks[0].reactor
    sender = Sender()
    server.handle(query(), CLIENT, "tcp", sender)
    assert sender.sent == [] and gen.inflight == 1
    clock.advance(2)
    (reply,) = sender.replies
    assert reply.answer[0][0].address == "10.0.0.9" and gen.inflight == 0


def test_udp_truncated_to_the_clients_size_tcp_whole(tmp_path):
    server, _ = make_server(tmp_path, " big 30")
    for proto, kw, whole in (("udp", {}, False), ("udp", {"use_edns": 0, "payload": 4096}, True), ("tcp", {}, True)):
        sender = Sender()
        server.handle(query("big.example.", "TXT", **kw), CLIENT, proto, sender)
        (reply,) = sender.replies
        assert bool(reply.flags & dns.flags.TC) is not whole
        assert (len(reply.answer[0]) == 30) if whole else not reply.answer


def test_observers_see_the_bytes_sent(tmp_path):
    """A block's observers get the request and exactly the bytes sent (after truncation)."""
    server, gen = make_server(tmp_path, " big 30")
    seen = []
    gen.blocks[0].observe("test", lambda req, data: seen.append((req.qname, req.local, data)))
    sender = Sender()
    server.handle(query("big.example.", "TXT"), CLIENT, "udp", sender)
    assert seen == [("big.example.", ("::", 53), sender.sent[0][0])] and len(seen[0][2]) <= 512


# -- the raw path -----------------------------------------------------------------------------------

@implementer(IRawAnswerer)
class RawCache:
    """Answers packets it has seen (ID aside) before they are parsed; counts what reaches serve()."""

    name = "rawcache"

    def __init__(self, next=None):
        self.next = next
        self.kept: dict[bytes, tuple[bytes, object]] = {}
        self.served = 0

    def serve(self, request):
        self.served += 1
        result = next_or_failure(self.name, self.next, request)
        data = result if isinstance(result, bytes) else result.to_wire()
        self.kept[request.wire[2:]] = (data, request)
        return data

    def raw_answer(self, query: bytes):
        found = self.kept.get(query[2:])
        return query[:2] + found[0][2:] if found else None

    def raw_request(self, query: bytes):
        found = self.kept.get(query[2:])
        return found[1] if found else None


@implementer(IPluginSetup)
class Setup:
    position = None

    def __init__(self, name, make):
        self.name, self.make = name, make

    def parse(self, d, block):
        while d.next():
            d.remaining_args()

    def build(self, config, block, next):
        return self.make(next)


@implementer(IHandler)
class PassOn:
    def __init__(self, name, next):
        self.name, self.next = name, next

    def serve(self, request):
        return next_or_failure(self.name, self.next, request)


def transparent(next):
    h = PassOn("transparent", next)
    alsoProvides(h, IRawTransparent)
    return h


def marker(next):
    h = PassOn("marker", next)
    alsoProvides(h, IRawReplyFilter)
    h.raw_reply = lambda reply: reply[:-1] + b"\x63"  # the answer's address becomes 10.0.0.99
    return h


#: In chain order: the handlers that may stand in front of the raw answerer, then it.
SETUPS = (Setup("marker", marker), Setup("transparent", transparent), Setup("opaque", lambda n: PassOn("opaque", n)),
          Setup("rawcache", RawCache))


def raw_server(tmp_path, body):
    return make_server(tmp_path, body + "\n answer 10.0.0.1", *SETUPS)


def chain_of(gen, name):
    return next(h for h in gen.blocks[0].handlers() if h.name == name)


def ask_twice(server):
    replies = []
    for qid in (1, 2):
        q = dns.message.make_query("www.example.org.", "A")
        q.id = qid
        sender = Sender()
        server.handle(q.to_wire(), CLIENT, "udp", sender)
        replies.append(sender.sent[0][0])
    return replies


def test_raw_answerer_at_the_head_answers_before_the_chain(tmp_path):
    server, gen = raw_server(tmp_path, " rawcache")
    first, second = ask_twice(server)
    assert chain_of(gen, "rawcache").served == 1  # the second packet never reached serve()
    assert second[:2] == b"\x00\x02" and second[2:] == first[2:]


@pytest.mark.parametrize("front, raw", [("transparent", True), ("opaque", False)])
def test_only_raw_transparent_handlers_may_stand_in_front(tmp_path, front, raw):
    server, gen = raw_server(tmp_path, f" {front}\n rawcache")
    ask_twice(server)
    assert chain_of(gen, "rawcache").served == (1 if raw else 2)


def test_raw_reply_filters_rewrite_raw_answers(tmp_path):
    """A handler that rewrites replies on the wire (IRawReplyFilter) sees the raw answers too."""
    server, gen = raw_server(tmp_path, " marker\n rawcache")
    first, second = ask_twice(server)
    assert chain_of(gen, "rawcache").served == 1
    addresses = [dns.message.from_wire(r).answer[0][0].address for r in (first, second)]
    assert addresses == ["10.0.0.1", "10.0.0.99"]


def test_raw_answers_are_observed_with_a_copy_of_the_first_request(tmp_path):
    server, gen = raw_server(tmp_path, " rawcache")
    seen = []
    gen.blocks[0].observe("test", lambda req, data: seen.append((req.id, req.qname, req.client, data[:2])))
    server = Server(server.mux, gen, ("::", 53))  # observers are read when the server is made
    ask_twice(server)
    assert chain_of(gen, "rawcache").served == 1
    assert seen == [(1, "www.example.org.", CLIENT, b"\x00\x01"), (2, "www.example.org.", CLIENT, b"\x00\x02")]


def test_deferred_failure_is_servfail(tmp_path):
    """A Deferred that fails answers SERVFAIL, like an exception."""
    failing = Setup("failing", lambda n: type("F", (PassOn,), {"serve": lambda self, r: defer.fail(ValueError("x"))})(
        "failing", n))
    server, _ = make_server(tmp_path, " failing", failing)
    sender = Sender()
    with Logged():
        server.handle(query(), CLIENT, "udp", sender)
    assert [r.rcode() for r in sender.replies] == [dns.rcode.SERVFAIL]


# -- bad input, answered as the RFCs (and NSD, Knot) do -----------------------------------------------------

def with_options(rdata: bytes) -> bytes:
    """A query whose OPT record holds ``rdata`` as its options, written by hand (dnspython would refuse some)."""
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(rdata)) + rdata
    q = dns.message.make_query("www.example.org.", "A").to_wire()
    return q[:10] + b"\x00\x01" + q[12:] + opt


def with_option(code: int, data: bytes) -> bytes:
    return with_options(struct.pack("!HH", code, len(data)) + data)


@pytest.mark.parametrize("rdata, rcode", [
    (struct.pack("!HH", 10, 8) + b"\x01\x02", dns.rcode.FORMERR),  # says 8 bytes, holds 2
    (struct.pack("!HH", 10, 8) + b"\x01" * 8 + b"\x00\x0c", dns.rcode.FORMERR),  # half an option after it
    (struct.pack("!HH", 10, 8) + b"\x01" * 8, dns.rcode.NOERROR),  # well formed: answered
    (b"", dns.rcode.NOERROR),
])
def test_malformed_opt_options_get_formerr_at_once(tmp_path, rdata, rcode):
    server, _ = make_server(tmp_path, " whoami")
    sender = Sender()
    server.handle(with_options(rdata), CLIENT, "udp", sender)
    ((data, _),) = sender.sent
    assert data[3] & 0x0F == rcode


def test_options_dnspython_refuses_are_formerr_not_servfail(tmp_path):
    """A COOKIE option of 3 bytes passes the fast read; a plugin reading the message finds it: FORMERR,
    with errors in front too, and no error logged (it is the client's mistake, not the server's)."""
    server, _ = make_server(tmp_path, " errors\n answer 10.0.0.1")
    sender = Sender()
    with Logged() as logged:
        server.handle(with_option(10, b"\x01\x02\x03"), CLIENT, "udp", sender)
    ((data, _),) = sender.sent
    assert data[3] & 0x0F == dns.rcode.FORMERR
    assert not [e for e in logged.events if e["log_level"].name in ("error", "critical")]


def test_whoami_leaves_out_the_srv_of_a_name_too_long_for_it(tmp_path):
    """_udp.NAME would pass 255 octets: the reply has the address only, and stays valid."""
    server, _ = make_server(tmp_path, " whoami")
    longest = ".".join(["a" * 62] * 4)[:250] + "."  # 251 octets on the wire, 256 with _udp.
    for name, records in (("www.example.org.", 2), (longest, 1)):
        sender = Sender()
        server.handle(query(name), CLIENT, "udp", sender)
        (reply,) = sender.replies
        assert len(reply.additional) == records and reply.additional[0][0].address == CLIENT[0]


# -- one delivery: every path ends the same way --------------------------------------------------------------

@implementer(IHandler)
class SlowUpdater(PassOn):
    """Takes UPDATEs (IUpdater) and answers NOERROR two seconds later (a Deferred)."""

    def __init__(self, next, clock):
        super().__init__("slowupdate", next)
        self.clock = clock

    def serve(self, request):
        if request.flags & 0x7800 == 5 << 11:  # an UPDATE: the server sent it down the chain to us
            return self.update(request)
        return next_or_failure(self.name, self.next, request)

    def update(self, request):
        return task.deferLater(self.clock, 2, lambda: request.reply())


class SlowUpdateSetup(Setup):
    def build(self, config, block, next):
        h = SlowUpdater(next, block.reactor)
        alsoProvides(h, IUpdater)
        return h


def test_update_answered_later_is_counted_in_flight_and_observed(tmp_path):
    """An UPDATE whose answer is a Deferred counts in flight until it fires (a reload waits for it), and
    the block's observers see its reply, as for a query."""
    server, gen = make_server(tmp_path, " slowupdate\n answer 10.0.0.1", SlowUpdateSetup("slowupdate", None),
                              zones="example.org")
    seen = []
    gen.blocks[0].observe("test", lambda req, data: seen.append(data[3] & 0x0F))
    server = Server(server.mux, gen, ("::", 53))
    update = dns.update.UpdateMessage("example.org.")
    update.add("www", 60, "A", "10.0.0.2")
    sender = Sender()
    server.handle(update.to_wire(), CLIENT, "udp", sender)
    assert sender.sent == [] and gen.inflight == 1
    gen.blocks[0].reactor.advance(2)
    assert [r.rcode() for r in sender.replies] == [dns.rcode.NOERROR]
    assert gen.inflight == 0 and seen == [dns.rcode.NOERROR]


def test_notify_and_other_opcodes_are_notimp_through_the_blocks_delivery(tmp_path):
    """NOTIFY for a served zone is NOTIMP (no secondary here), and log and prometheus (the observers) see it."""
    server, gen = make_server(tmp_path, " whoami", zones="example.org")
    seen = []
    gen.blocks[0].observe("test", lambda req, data: seen.append((req.qname, data[3] & 0x0F)))
    server = Server(server.mux, gen, ("::", 53))
    notify = dns.message.make_query("example.org.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    sender = Sender()
    server.handle(notify.to_wire(), CLIENT, "udp", sender)
    assert [r.rcode() for r in sender.replies] == [dns.rcode.NOTIMP]
    assert seen == [("example.org.", dns.rcode.NOTIMP)]


def test_a_message_stream_on_udp_sends_its_first_message(tmp_path):
    """A plugin answering with several messages (a transfer) gets only the first over UDP, and observers see it."""
    def stream(h, request):
        first = request.reply().to_wire()
        return MessageStream(iter([first, first]), first)

    server, gen = make_server(tmp_path, " stream", Setup("stream", lambda n: type(
        "S", (PassOn,), {"serve": lambda self, r: stream(self, r)})("stream", n)))
    seen = []
    gen.blocks[0].observe("test", lambda req, data: seen.append(data))
    server = Server(server.mux, gen, ("::", 53))
    sender = Sender()
    server.handle(query(), CLIENT, "udp", sender)
    assert len(sender.sent) == 1 and seen == [sender.sent[0][0]]


@implementer(IRawRewriter)
class NameSwap(PassOn):
    """Asks the rest of the chain for www.example.net. when www.example.org. is asked, on both paths."""

    FROM, TO = "www.example.org.", "www.example.net."

    def __init__(self, next):
        super().__init__("swap", next)

    def serve(self, request):
        if request.qname != self.FROM:
            return next_or_failure(self.name, self.next, request)
        asked = request.question_wire
        result = next_or_failure(self.name, self.next, request.derive(self.TO))
        return post_process(result, lambda reply: rename(reply.wire, asked))

    def raw_query(self, query):
        q = dns.message.from_wire(query)
        if q.question[0].name.to_text().lower() != self.FROM:
            return query
        q.question[0].name = dns.name.from_text(self.TO)
        return q.to_wire()

    def raw_restore(self, query, reply):
        return rename(reply, query[12:])


def test_a_rewriter_in_front_keeps_the_raw_path_and_the_cache_the_rewritten_name(tmp_path):
    """With an IRawRewriter in front, the raw answerer keeps replies under the rewritten query's bytes and
    answers repeats before the chain; the client always gets its own question back."""
    server, gen = make_server(tmp_path, " swap\n rawcache\n answer 10.0.0.1",
                              Setup("swap", NameSwap), *SETUPS)
    replies = []
    for qid in (1, 2):
        q = dns.message.make_query("WWW.example.org.", "A")
        q.id = qid
        sender = Sender()
        server.handle(q.to_wire(), CLIENT, "udp", sender)
        replies.append(dns.message.from_wire(sender.sent[0][0]))
    cache = chain_of(gen, "rawcache")
    assert cache.served == 1  # the second came from the raw path
    assert all(b"\x03www\x07example\x03net\x00" in key for key in cache.kept)  # kept under the rewritten name
    for qid, reply in zip((1, 2), replies, strict=True):
        assert reply.id == qid and reply.question[0].name.to_text() == "WWW.example.org."
        assert reply.answer[0].name.to_text() == "WWW.example.org." and reply.answer[0][0].address == "10.0.0.1"
