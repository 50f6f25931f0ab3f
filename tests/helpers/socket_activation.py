"""Start a program the way systemd's socket activation does: listening sockets as descriptors 3, 4, ...
with LISTEN_PID (the program's own pid), LISTEN_FDS and LISTEN_FDNAMES set."""
from __future__ import annotations

import os
import subprocess
import sys

# Runs in the child: move the inherited sockets to 3, 4, ..., set the variables for its own pid, exec.
_LAUNCHER = r"""
import fcntl, os, sys
fds = [int(x) for x in os.environ.pop("SA_FDS").split(",")]
# out of the way first (above every target): the targets may be taken by inherited fds
tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD, 3 + len(fds)) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(tmp):
    os.dup2(fd, 3 + i, inheritable=True)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(len(fds))
os.execv(sys.argv[1], sys.argv[1:])
"""


def popen(argv: list[str], sockets: list, names: list[str], env: dict, **kwargs) -> subprocess.Popen:
    fds = [s.fileno() for s in sockets]
    env = dict(env, SA_FDS=",".join(map(str, fds)), LISTEN_FDNAMES=":".join(names))
    return subprocess.Popen([sys.executable, "-c", _LAUNCHER] + argv, pass_fds=fds, env=env, **kwargs)


__all__ = ["popen", "os"]
