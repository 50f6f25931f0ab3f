"""skydns agent: services registered in a real etcd while their checks pass, answered by a running server;
withdrawn when a check fails, restored when it passes, gone at once on SIGTERM, gone with the lease on SIGKILL,
back after an etcd outage; two agents on one name each own their address."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import dns.rcode
import pytest

from helpers import LEASE_REVOKE_SLACK, Proxy, eventually
from helpers.listeners import HTTPService, TCPService
from helpers.processes import BIN, ROOT, env
from skydns import testing
from skydns.cli.agent import parser, services_of
from skydns.cli.agent.spec import SpecError

pytestmark = pytest.mark.integration
INTERVAL, FALL, RISE = 1.0, 2, 2


def start_agent(tmp_path, data, *args, endpoint=None, lease="3s", name="agent"):
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([os.path.join(BIN, "skydns"), "agent", "--etcd", endpoint or data.server.url,
                             "--path", data.path, "--lease", lease, "--id", name, *args],
                            env=env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def addrs(srv, name="web.skydns.local."):
    r = srv.query(name, "A")
    return sorted(rr.address for rrset in r.answer for rr in rrset) if r.rcode() == dns.rcode.NOERROR else []


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        proc.wait(timeout=15)


def test_registered_withdrawn_restored_and_gone_on_sigterm(tmp_path, data):
    svc = TCPService("127.0.1.41")
    check = ["--interval", "1s", "--timeout", "500ms", "--rise", str(RISE), "--fall", str(FALL)]
    agent = start_agent(tmp_path, data, "web.skydns.local", "--address", "127.0.1.41", "--port", str(svc.port),
                        "--priority", "5", *check)
    try:
        with testing.serve(data.block(), tmp_path) as srv:
            assert eventually(lambda: addrs(srv) == ["127.0.1.41"], timeout=10)
            r = srv.query("web.skydns.local.", "SRV")
            assert (r.answer[0][0].port, r.answer[0][0].priority) == (svc.port, 5)
            svc.stop()
            gone = time.monotonic()
            assert eventually(lambda: addrs(srv) == [], timeout=10)
            took = time.monotonic() - gone
            assert took < (FALL + 1) * INTERVAL + 1.5, took  # withdrawn within fall x interval (and a check's time)
            svc.start()
            back = time.monotonic()
            assert eventually(lambda: addrs(srv) == ["127.0.1.41"], timeout=10)
            assert time.monotonic() - back < (RISE + 1) * INTERVAL + 1.5
            stop(agent)  # SIGTERM: the lease is revoked, the service goes at once
            sent = time.monotonic()
            assert eventually(lambda: addrs(srv) == [], timeout=5, interval=0.05)
            assert time.monotonic() - sent < 1.0
            assert agent.returncode == 0
    finally:
        stop(agent, signal.SIGKILL)
        svc.stop()
    text = (tmp_path / "agent.log").read_text()
    assert "registered" in text and "withdrawn" in text, text


def test_a_killed_agents_services_go_with_its_lease(tmp_path, data):
    agent = start_agent(tmp_path, data, "web.skydns.local", "--address", "127.0.1.42", lease="3s")  # no check
    try:
        with testing.serve(data.block(), tmp_path) as srv:
            assert eventually(lambda: addrs(srv) == ["127.0.1.42"], timeout=10)
            [(_, meta)] = list(data.client.get_prefix(data.path + "/"))
            assert data.client.get_lease_info(meta.lease_id).grantedTTL == 3  # written under the agent's lease
            stop(agent, signal.SIGKILL)
            killed = time.monotonic()
            assert eventually(lambda: addrs(srv) == [], timeout=3 + LEASE_REVOKE_SLACK, interval=0.1), (
                "etcd still holds", list(data.client.get_prefix(data.path + "/")),
                data.client.get_lease_info(meta.lease_id))
            took = time.monotonic() - killed
            assert took > 1.0, took  # not at once: when the 3 s lease runs out
            assert not list(data.client.get_prefix(data.path + "/"))  # etcd dropped the key, not only the answer
    finally:
        stop(agent, signal.SIGKILL)


def test_registrations_come_back_after_an_etcd_outage(tmp_path, data, etcd):
    """etcd out of reach for 20 s (longer than the lease: etcd drops the keys), then back: the agent takes a new
    lease and writes its services again within seconds."""
    proxy = Proxy(etcd.port)
    web = HTTPService("127.0.1.43")
    agent = start_agent(tmp_path, data, "--file", str(write(tmp_path, f"""
- name: web.skydns.local
  address: 127.0.1.43
  port: {web.port}
  check: http:/healthz
  interval: 1s
  timeout: 500ms
- name: txt.skydns.local
  address: 127.0.1.44
  text: hello
""")), endpoint=proxy.url)
    try:
        with testing.serve(data.block(), tmp_path) as srv:
            assert eventually(lambda: addrs(srv) == ["127.0.1.43"] and addrs(srv, "txt.skydns.local.")
                              == ["127.0.1.44"], timeout=10)
            proxy.block()
            cut = time.monotonic()
            # the lease runs out while etcd is away: etcd deletes the keys (the server sees it, it is not cut off)
            assert eventually(lambda: addrs(srv) == [], timeout=15, interval=0.2)
            outage = 20.0
            time.sleep(max(0.0, outage - (time.monotonic() - cut)))
            proxy.unblock()
            back = time.monotonic()
            assert eventually(lambda: addrs(srv) == ["127.0.1.43"] and addrs(srv, "txt.skydns.local.")
                              == ["127.0.1.44"], timeout=15, interval=0.1)
            took = time.monotonic() - back
            print(f"\nregistrations back {took:.2f}s after a {back - cut:.0f}s etcd outage")
            assert took < 5.0, took
    finally:
        stop(agent)
        proxy.close()
        web.stop()


def test_two_agents_register_one_name_each_with_its_address(tmp_path, data):
    a = start_agent(tmp_path, data, "db.skydns.local", "--address", "127.0.1.45", "--port", "5432", "--check",
                    "none", name="a")
    b = start_agent(tmp_path, data, "db.skydns.local", "--address", "127.0.1.46", "--port", "5432", "--check",
                    "none", name="b")
    try:
        with testing.serve(data.block(), tmp_path) as srv:
            assert eventually(lambda: addrs(srv, "db.skydns.local.") == ["127.0.1.45", "127.0.1.46"], timeout=10)
            stop(a)
            assert eventually(lambda: addrs(srv, "db.skydns.local.") == ["127.0.1.46"], timeout=5)
    finally:
        stop(a, signal.SIGKILL)
        stop(b)


def test_a_command_check(tmp_path, data):
    """command:PROGRAM ARGS: healthy while it exits 0."""
    flag = tmp_path / "healthy"
    flag.write_text("")
    agent = start_agent(tmp_path, data, "web.skydns.local", "--address", "127.0.1.47", "--check",
                        f"command:test -e {flag}", "--interval", "1s", "--timeout", "500ms", "--fall", "1",
                        "--rise", "1")
    try:
        with testing.serve(data.block(), tmp_path) as srv:
            assert eventually(lambda: addrs(srv) == ["127.0.1.47"], timeout=10)
            flag.unlink()
            assert eventually(lambda: addrs(srv) == [], timeout=10)
            flag.write_text("")
            assert eventually(lambda: addrs(srv) == ["127.0.1.47"], timeout=10)
    finally:
        stop(agent)


def write(tmp_path, text: str):
    path = tmp_path / "services.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("argv, words", [
    (["web.skydns.local"], "address None is not an IP address"),
    (["web.skydns.local", "--address", "10.0.0.1", "--check", "gopher"], "check 'gopher' is not"),
    (["web.skydns.local", "--address", "10.0.0.1", "--check", "tcp"], "check tcp needs a port"),
    (["web.skydns.local", "--address", "10.0.0.1", "--interval", "10ms"], "interval must be from 1s"),
    (["web.skydns.local", "--address", "10.0.0.1", "--timeout", "20s", "--interval", "5s"], "must be below"),
    (["--address", "10.0.0.1"], "service flags without a NAME"),
    ([], "nothing to register"),
])
def test_bad_services_are_refused_with_the_reason(argv, words):
    with pytest.raises(SpecError, match=words):
        services_of(parser().parse_args(argv))


def test_the_command_says_what_is_wrong(tmp_path):
    out = subprocess.run([os.path.join(BIN, "skydns"), "agent", "--file", str(write(tmp_path, "- name: x\n"))],
                         capture_output=True, text=True, timeout=30, env=env(), cwd=ROOT)
    assert out.returncode == 2 and "services.yaml: x: address None is not an IP address" in out.stderr, out.stderr
