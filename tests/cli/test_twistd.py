"""``twistd skydns`` and ``skydns`` as real processes: serve, reload on SIGHUP, refuse bad Corefiles."""
import importlib.metadata
import os
import signal
import subprocess
import sys
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from helpers import BIN, ROOT, ask, env, eventually, free_port, wait_until_serving

# twistd and skydns as child processes, a wheel built with pip
pytestmark = pytest.mark.integration


def test_wheel_carries_the_twistd_plugin_and_twistd_finds_it(tmp_path):
    """The wheel holds twisted/plugins/skydns_plugin.py (and py.typed); with it on the path twistd knows 'skydns'."""
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), ROOT], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("skydns-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "twisted/plugins/skydns_plugin.py" in names
    assert "twisted/plugins/__init__.py" not in names and "twisted/__init__.py" not in names
    assert "skydns/py.typed" in names and "skydns/plugin/etcd/README.md" in names
    out = subprocess.run([os.path.join(BIN, "twistd"), "--help"], cwd=tmp_path, capture_output=True,
                         text=True, env=env())
    assert "skydns" in out.stdout


def test_twistd_finds_skydns_as_make_setup_installs_it(tmp_path):
    """`twistd skydns` from the checkout's venv, in another folder, with no PYTHONPATH: the editable install
    alone does not put twisted/plugins on twistd's path; make setup's link and .pth file do."""
    out = subprocess.run([os.path.join(BIN, "twistd"), "skydns", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, env=env(), timeout=60)
    assert "PYTHONPATH" not in env()
    assert out.returncode == 0 and "skydns [-c Corefile]" in out.stdout, out.stdout + out.stderr


def test_version_is_skydns_s():
    """skydns --version and twistd skydns --version print skydns's version (one source: skydns.__version__)."""
    import skydns

    out = subprocess.run([os.path.join(BIN, "skydns"), "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == f"skydns {skydns.__version__}"
    assert importlib.metadata.version("skydns") == skydns.__version__
    out = subprocess.run([os.path.join(BIN, "twistd"), "skydns", "--version"], capture_output=True, text=True,
                         env=env(), timeout=30)
    assert out.stdout.strip() == f"skydns {skydns.__version__}"


def test_sighup_reload_under_load(tmp_path):
    """twistd -n skydns: SIGHUP takes a changed Corefile, refuses a broken one, loses no query."""
    port = free_port()
    corefile = tmp_path / "Corefile"
    log = tmp_path / "skydns.log"
    corefile.write_text(f"example.org:{port} {{\n whoami\n}}\n")
    proc = subprocess.Popen(
        [os.path.join(BIN, "twistd"), "-n", "--pidfile=", f"--logfile={log}", "skydns", "-c", str(corefile)],
        cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    stop = threading.Event()
    sent, failed = [0], []

    def client():
        while not stop.is_set():
            sent[0] += 1
            try:
                r = ask(port, "example.org.", timeout=2.0)
                if r.rcode() != dns.rcode.NOERROR:
                    failed.append(r.rcode())
            except dns.exception.Timeout:
                failed.append("timeout")

    try:
        wait_until_serving(port, proc)
        t = threading.Thread(target=client)
        t.start()
        assert ask(port, "example.net.").rcode() == dns.rcode.REFUSED
        corefile.write_text(f"example.org:{port} example.net:{port} {{\n whoami\n}}\n")
        proc.send_signal(signal.SIGHUP)
        assert eventually(lambda: ask(port, "example.net.").rcode() == dns.rcode.NOERROR, timeout=10, interval=0.05)
        corefile.write_text(f"example.org:{port} {{\n whoami\n bogus\n}}\n")
        proc.send_signal(signal.SIGHUP)
        assert eventually(lambda: f"{corefile}:3 - unknown directive 'bogus'" in log.read_text(), timeout=10)
        assert ask(port, "example.net.").rcode() == dns.rcode.NOERROR  # the old configuration
        assert eventually(lambda: sent[0] > 20)  # the client kept asking through both reloads
        stop.set()
        t.join(5)
        assert proc.poll() is None
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert sent[0] > 20 and failed == []


def test_bad_corefile_refuses_start(tmp_path):
    """A Corefile error stops start-up with file:line and a non-zero exit."""
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:0 {\n whoami 1\n}\n")
    out = subprocess.run([os.path.join(BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", str(corefile)],
                         cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert f"{corefile}:2 - plugin/whoami: wrong argument count" in out.stdout + out.stderr


def test_console_script_plugins_validate_and_serve(tmp_path):
    """skydns plugins lists the chain order; skydns validate checks; skydns -c serves, without twistd's
    plugin discovery (no twisted/plugins of ours on the path: nothing but the installed package)."""
    script = os.path.join(BIN, "skydns")
    out = subprocess.run([script, "plugins"], capture_output=True, text=True, env=env(), timeout=30)
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert names.index("errors") < names.index("whoami")
    corefile = tmp_path / "Corefile"
    port = free_port()
    corefile.write_text(f"example.org:{port} {{\n errors\n whoami\n}}\n")
    out = subprocess.run([script, "validate", "-c", str(corefile)], capture_output=True, text=True,
                         env=env(), timeout=30)
    assert out.returncode == 0 and "errors -> whoami" in out.stdout
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([script, "-c", str(corefile)], cwd=tmp_path, env=bare,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        r = wait_until_serving(port, proc)
        assert r.rcode() == dns.rcode.NOERROR and r.additional[0][0].address == "127.0.0.1"
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=10)[0].decode()
    assert "chain example.org:" in out and "errors -> whoami" in out


def test_log_file_and_lameduck(tmp_path):
    """Query log lines go to twistd's --logfile; SIGTERM with lameduck: /health 503, queries still answered."""
    import urllib.error
    import urllib.request

    port = free_port()
    hport = free_port()
    corefile = tmp_path / "Corefile"
    logfile = tmp_path / "skydns.log"
    corefile.write_text(f".:{port} {{\n log\n whoami\n health 127.0.0.1:{hport} {{\n  lameduck 1s\n }}\n}}\n")
    proc = subprocess.Popen(
        [os.path.join(BIN, "twistd"), "-n", "--pidfile=", f"--logfile={logfile}", "skydns", "-c", str(corefile)],
        cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(port, proc)
        ask(port, "logged.example.")
        assert eventually(lambda: '"A IN logged.example. udp' in logfile.read_text())
        assert urllib.request.urlopen(f"http://127.0.0.1:{hport}/health").read() == b"OK"
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)

        def health():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{hport}/health").getcode()
            except urllib.error.HTTPError as e:
                return e.code

        assert eventually(lambda: health() == 503, timeout=1)
        assert ask(port, "still.example.").rcode() == dns.rcode.NOERROR  # lame duck still answers
        proc.wait(10)
        assert time.monotonic() - stopped_at >= 0.95
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_answers_queries_in_flight(tmp_path):
    """twistd skydns, no lameduck: SIGTERM while forwarded queries wait on a slow upstream: all answered."""
    import concurrent.futures

    from helpers import Upstream, bound_udp

    slow = Upstream("late", delay=1.0)  # every query answered a second late
    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n forward . {slow.addr}\n}}\n")
    proc = subprocess.Popen([os.path.join(BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", str(corefile)],
                            cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: bound_udp(proc.pid, port), timeout=20)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            asked = [pool.submit(ask, port, f"q{i}.example.", 5.0) for i in range(8)]
            assert eventually(lambda: len(slow.seen) == 8, timeout=5)  # all forwarded, none answered yet
            proc.send_signal(signal.SIGTERM)
            rcodes = [f.result().rcode() for f in asked]
        assert rcodes == [dns.rcode.NOERROR] * 8
        proc.wait(10)  # and then it exits (twistd ends by the signal it got)
    finally:
        slow.close()
        if proc.poll() is None:
            proc.kill()
