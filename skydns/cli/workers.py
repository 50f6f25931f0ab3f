"""``skydns --workers N``: N server processes sharing every port, kept running.

Each worker is a ``skydns --reuseport`` process (twistd's runner, in the foreground) with its own
etcd copy; the kernel spreads queries over their sockets (SO_REUSEPORT). The
supervisor passes SIGHUP (reload) and SIGTERM/SIGINT (stop) on to every
worker, and starts a worker again when one dies.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from skydns.config.errors import CorefileError
from skydns.query import cookies

#: A worker that dies sooner than this after starting is restarted only after a pause.
QUICK_DEATH = 2.0


def count_from(argv: list[str]) -> tuple[int, list[str]]:
    """The number of workers (``--workers N`` or the Corefile's ``workers``) and argv without the flag."""
    out, count, i = [], 0, 0
    while i < len(argv):
        a = argv[i]
        if a == "--workers" and i + 1 < len(argv):
            count = int(argv[i + 1])
            i += 2
            continue
        if a.startswith("--workers="):
            count = int(a.split("=", 1)[1])
        else:
            out.append(a)
        i += 1
    if count == 0:
        count = _from_corefile(out)
    return count, out


def _corefile_of(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a in ("-c", "--conf") and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--conf="):
            return a.split("=", 1)[1]
    return "Corefile"


def _from_corefile(argv: list[str]) -> int:
    from skydns import config

    try:
        cfg = config.load(_corefile_of(argv))
    except CorefileError:
        return 1  # twistd reports the error itself
    return max(b.settings.workers for b, _ in cfg.blocks)


def supervise(argv: list[str], count: int) -> int:
    from skydns import config

    try:
        cfg = config.load(_corefile_of(argv))
    except CorefileError as e:
        sys.stderr.write(f"skydns: {e}\n")
        return 1
    if any(k.port == 0 for b, _ in cfg.blocks for k in b.keys):
        sys.stderr.write("skydns: --workers needs fixed ports: port 0 would give each worker its own\n")
        return 2
    cmd = [sys.executable, "-c", "import sys; from skydns.cli.tap import main; sys.exit(main())", "--reuseport"] + argv
    workers: dict[int, tuple[subprocess.Popen, float]] = {}
    stopping = []

    secret = cookies.master_secret()  # DNS cookies: every worker makes and accepts the same ones

    def start(slot: int) -> None:
        # the secret goes through a pipe the worker reads once: never in argv, the environment or a file
        read, write = os.pipe()
        os.write(write, secret)
        os.close(write)
        env = dict(os.environ, **{cookies.SECRET_FD: str(read)})
        try:
            workers[slot] = (subprocess.Popen(cmd, pass_fds=(read,), env=env), time.monotonic())
        finally:
            os.close(read)

    def forward(signum, frame):
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping.append(signum)
        for proc, _ in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    for slot in range(count):
        start(slot)
    sys.stderr.write(f"skydns: {count} workers started (pids {', '.join(str(p.pid) for p, _ in workers.values())})\n")
    while True:
        time.sleep(0.2)
        alive = 0
        for slot, (proc, started) in list(workers.items()):
            if proc.poll() is None:
                alive += 1
                continue
            if stopping:
                continue
            sys.stderr.write(f"skydns: worker {proc.pid} exited with {proc.returncode}; starting another\n")
            if time.monotonic() - started < QUICK_DEATH:
                time.sleep(1.0)
            start(slot)
            alive += 1
        if stopping and alive == 0:
            return 0
