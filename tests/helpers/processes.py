"""Servers as real processes (twistd, the skydns command, workers): start, ask, find what they bound."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import dns.exception
import dns.message
import dns.query

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def env() -> dict:
    """The environment of a child process: no PYTHONPATH, so that twistd and skydns find what they need
    as `make setup` installed it (twistd's plugin through the venv's own path, tests/test_twistd.py)."""
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    return e


def ask(port: int, name: str, timeout: float = 1.0, qtype: str = "A"):
    return dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1", port=port, timeout=timeout)


def wait_until_serving(port: int, proc: subprocess.Popen, deadline: float = 20):
    """The first answer from a server process on ``port``; AssertionError if it exits or never answers."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            return ask(port, "example.org.", timeout=0.2)
        except dns.exception.Timeout:
            pass
    raise AssertionError("server did not start")


def children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _socket_inodes(port: int) -> set[str]:
    """Inodes of the UDP sockets bound to ``port`` on this host (from /proc/net/udp and udp6)."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            pass
    return inodes


def bound_udp(pid: int, port: int) -> bool:
    """Has process ``pid`` a UDP socket bound to ``port``?"""
    inodes = _socket_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False
