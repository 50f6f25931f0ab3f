"""What the tests share: one place to import from (tests never import each other or conftest).

* waiting: :func:`eventually` polls instead of sleeping;
* etcd: :class:`EtcdData`, a test's own corner of the session's real etcd (the kit's, skydns.testing.etcd);
* real peers: :class:`Upstream` DNS servers, a TCP :class:`Proxy` that can cut etcd off, a PKI,
  DNSSEC keys in BIND's format (:func:`write_key`);
* plugins: :mod:`fakeplugins` (small handlers under extra names) and :func:`counting_serve`;
* processes: twistd and skydns as child processes (:mod:`helpers.processes`); load: :func:`blast_udp`;
* logs: :class:`Logged` captures twisted.logger events; metrics: :func:`scrape` and :func:`value`.
"""
from __future__ import annotations

from helpers import fakeplugins
from helpers.certs import make_pki
from helpers.keys import write_key
from helpers.load import blast_udp
from helpers.logs import Logged
from helpers.metrics import metric, scrape, value
from helpers.processes import BIN, ROOT, ask, bound_udp, children, env, wait_until_serving
from helpers.proxy import Proxy
from helpers.upstreams import CannotSend, Upstream, burst, closed_port
from skydns import testing
from skydns.testing.etcd import EtcdData

__all__ = [
    "BIN", "LEASE_REVOKE_SLACK", "ROOT", "CannotSend", "EtcdData", "Logged", "Proxy", "Upstream", "ask",
    "blast_udp", "bound_udp", "burst", "children", "closed_port",
    "counting_serve", "env", "eventually", "fakeplugins", "free_port", "make_pki", "metric", "wait_until_serving",
    "scrape", "value", "write_key",
]


def free_port() -> int:
    """A port free for UDP and TCP on every address (servers in tests listen on ``::``, dual-stack)."""
    return testing.free_port("::")


eventually = testing.eventually

# etcd revokes expired leases in a pass every 0.5 s; when its server loop is busy (a loaded machine) the pass
# skips them and tries again 3 s later. A lease's keys go within its TTL and a couple of those retries.
LEASE_REVOKE_SLACK = 7.0


counting_serve = testing.count_serves
