"""The test kit, for skydns and for third-party plugins (documented in docs/plugins.md, "Testing").

In-process, no sockets (:mod:`.harness`):

* :func:`request` makes a request from a dnspython message (or a name), :func:`run` runs one
  handler on it and delivers what it answers to a :class:`Recorder`; :func:`count_serves` counts
  what reaches a handler;
* :class:`Harness` builds a whole Corefile on a ``task.Clock`` and answers queries through the
  real server code (routing, raw paths, chains, delivery, observers).

Corefile parsing (:mod:`.corefile`): :func:`load`, :func:`parsed`, :func:`error` (with file:line).

A real server (:mod:`.server`): :func:`serve` starts one in a reactor thread, queried over
loopback; ``clock=task.Clock()`` puts its plugins' time in the test's hands (``srv.advance``).

Plugins nobody installed: :func:`registry` adds setups to the installed ones;
:class:`RecordsSetup` (``records ZONE { ... }``) is a small fixed zone to put behind a plugin.

pytest fixtures (:mod:`.pytest_plugin`, registered when skydns is installed): ``etcd`` (a real
one, per session), ``etcd_data`` (a test's own corner of it), ``clock``.
"""
from skydns.testing.corefile import error, load, parsed
from skydns.testing.harness import CLIENT, Harness, Recorder, count_serves, query, request, run
from skydns.testing.records import Records, RecordsSetup
from skydns.testing.server import (
                                   RunningServer,
                                   call,
                                   eventually,
                                   free_port,
                                   rdtype,
                                   reactor,
                                   registry,
                                   rrsets,
                                   serve,
                                   start,
)

__all__ = [
    "CLIENT", "Harness", "Recorder", "Records", "RecordsSetup", "RunningServer", "call", "count_serves", "error",
    "eventually",
    "free_port",
    "load", "parsed", "query", "rdtype", "reactor", "registry", "request", "rrsets", "run", "serve", "start",
]
