"""Reloading in place: swap chains, keep listeners, reject bad Corefiles, open and close ports."""
import socket
import threading

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from helpers import eventually, fakeplugins, free_port
from skydns import testing


def address(srv, name="a.example.", port=None, tcp=False):
    return srv.query(name, "A", port=port, tcp=tcp).answer[0][0].address


def test_reload_swaps_chain_and_keeps_listener(tmp_path):
    """A changed Corefile is taken on reload; the same sockets keep serving."""
    reg = fakeplugins.registry()
    srv = testing.start(". {\n answer 10.0.0.1\n}\n".replace(". {", f".:{free_port()} {{"), tmp_path, reg)
    try:
        port = srv.port
        listener = next(iter(srv.service.listeners.values()))
        udp_port = listener.udp
        assert address(srv) == "10.0.0.1"
        srv.write(f".:{port} {{\n answer 10.0.0.2\n}}\n")
        assert srv.reload() is True
        assert address(srv) == "10.0.0.2" and address(srv, tcp=True) == "10.0.0.2"
        assert next(iter(srv.service.listeners.values())).udp is udp_port
        assert srv.service.reloads == 1
    finally:
        srv.stop()


def test_bad_corefile_keeps_old_configuration(tmp_path):
    """A reload with an error is refused, logged with file:line, and the old chain keeps answering."""
    from twisted.logger import formatEvent, globalLogPublisher
    reg = fakeplugins.registry()
    port = free_port()
    srv = testing.start(f".:{port} {{\n answer 10.0.0.1\n}}\n", tmp_path, reg)
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        srv.write(f".:{port} {{\n answer 10.0.0.9\n nosuchplugin\n}}\n")
        assert srv.reload() is False
        assert address(srv) == "10.0.0.1"
        logged = [formatEvent(e) for e in events if e.get("log_namespace") == "skydns.listen.service"]
        assert any(f"{srv.corefile}:3 - unknown directive 'nosuchplugin'" in line for line in logged), logged
        assert srv.service.reload_failures == 1
    finally:
        globalLogPublisher.removeObserver(events.append)
        srv.stop()


def test_reload_opens_and_closes_ports(tmp_path):
    """A port added by a reload is opened; one removed is closed; unchanged ones stay."""
    reg = fakeplugins.registry()
    p1, p2 = free_port(), free_port()
    srv = testing.start(f".:{p1} {{\n answer 10.0.0.1\n}}\n", tmp_path, reg)
    try:
        srv.write(f".:{p1} {{\n answer 10.0.0.1\n}}\nexample.org:{p2} {{\n answer 10.0.0.2\n}}\n")
        assert srv.reload()
        assert address(srv, "example.org.", port=p2) == "10.0.0.2"
        assert address(srv, "x.", port=p1) == "10.0.0.1"
        srv.write(f"example.org:{p2} {{\n answer 10.0.0.3\n}}\n")
        assert srv.reload()
        assert address(srv, "example.org.", port=p2) == "10.0.0.3"
        with pytest.raises(dns.exception.Timeout):
            srv.query("x.", "A", port=p1, timeout=0.3)
    finally:
        srv.stop()


def test_port_in_use_reload_refused(tmp_path):
    """A reload that cannot open a new port keeps the old configuration."""
    reg = fakeplugins.registry()
    p1 = free_port()
    blocker = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    blocker.bind(("::", 0))
    busy = blocker.getsockname()[1]
    srv = testing.start(f".:{p1} {{\n answer 10.0.0.1\n}}\n", tmp_path, reg)
    try:
        srv.write(f".:{p1} {{\n answer 10.0.0.2\n}}\nexample.org:{busy} {{\n answer 10.0.0.2\n}}\n")
        assert srv.reload() is False
        assert address(srv, port=p1) == "10.0.0.1"
    finally:
        blocker.close()
        srv.stop()


def test_in_flight_queries_finish_on_old_chain(tmp_path):
    """A slow query started before a reload is answered by the chain it started on."""
    reg = fakeplugins.registry()
    port = free_port()
    srv = testing.start(f".:{port} {{\n slow 0.5 10.0.0.1\n}}\n", tmp_path, reg)
    try:
        result = {}

        def ask():
            result["addr"] = address(srv)

        t = threading.Thread(target=ask)
        t.start()
        assert eventually(lambda: srv.service.generation.inflight == 1)
        srv.write(f".:{port} {{\n answer 10.0.0.2\n}}\n")
        assert srv.reload()
        assert address(srv) == "10.0.0.2"
        t.join(3)
        assert result["addr"] == "10.0.0.1"
    finally:
        srv.stop()


def test_no_query_lost_during_reloads(tmp_path):
    """Queries sent continuously while reloading 10 times are all answered."""
    reg = fakeplugins.registry()
    port = free_port()
    srv = testing.start(f".:{port} {{\n answer 10.0.0.0\n}}\n", tmp_path, reg)
    stop = threading.Event()
    answered, lost = [], []

    def client():
        while not stop.is_set():
            try:
                answered.append(address(srv))
            except dns.exception.Timeout:
                lost.append(1)

    t = threading.Thread(target=client)
    t.start()
    try:
        for i in range(1, 11):
            srv.write(f".:{port} {{\n answer 10.0.0.{i}\n}}\n")
            assert srv.reload()
            assert eventually(lambda i=i: f"10.0.0.{i}" in answered)  # the client was answered by this one
    finally:
        stop.set()
        t.join(5)
        srv.stop()
    assert not lost and len(answered) > 20
    assert "10.0.0.10" in answered


def test_reload_plugin_polls_checksum(tmp_path):
    """With 'reload 2s 1s', editing the Corefile (or a file it imports) reloads by itself."""
    port = free_port()
    inc = tmp_path / "extra.inc"
    inc.write_text("answer 10.0.0.1\n")
    reg = fakeplugins.registry()
    srv = testing.start(f".:{port} {{\n reload 2s 1s\n import extra.inc\n}}\n", tmp_path, reg)
    try:
        assert address(srv) == "10.0.0.1"
        inc.write_text("answer 10.0.0.2\n")
        assert eventually(lambda: address(srv) == "10.0.0.2", timeout=8, interval=0.2)
        assert srv.service.reloads == 1
    finally:
        srv.stop()


def test_stop_answers_the_queries_in_flight(tmp_path):
    """Stopping takes no new queries but answers those already being worked on (bounded), then closes."""
    reg = fakeplugins.registry()
    port = free_port()
    srv = testing.start(f".:{port} {{\n slow 0.5 10.0.0.1\n}}\n", tmp_path, reg)
    result = {}
    t = threading.Thread(target=lambda: result.update(addr=address(srv)))
    t.start()
    assert eventually(lambda: srv.service.generation.inflight == 1)
    srv.stop()
    t.join(3)
    assert result == {"addr": "10.0.0.1"}
    with pytest.raises(dns.exception.Timeout):
        srv.query("a.example.", "A", port=port, timeout=0.3)  # closed now
