"""Fixtures: one real etcd for the session, and each test's own corner of it. Helpers are in helpers/."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

from helpers import EtcdData, Upstream  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--outage-seconds", type=float, default=8.0,
                     help="how long etcd is cut off in the catch-up test (tests/plugin/etcd/test_cluster.py; "
                          "default 8, past the back-off's cap; the issue's figure is 60)")
    parser.addoption("--fuzz-seconds", type=float, default=2.0,
                     help="how long each fuzz test sends packets (tests/test_fuzz.py; default 2)")


@pytest.fixture
def outage_seconds(request) -> float:
    return request.config.getoption("--outage-seconds")


@pytest.fixture
def fuzz_seconds(request) -> float:
    return request.config.getoption("--fuzz-seconds")


#: Tests that use these fixtures start processes of their own (a real etcd): marked integration.
INTEGRATION_FIXTURES = {"etcd", "data"}


def pytest_collection_modifyitems(items):
    """Mark every test that needs a real etcd as integration (``-m "not integration"`` skips them)."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    """One real etcd for the test session, on free loopback ports, in a temporary folder."""
    from skydns.cli.devetcd import LocalEtcd

    server = LocalEtcd(str(tmp_path_factory.mktemp("etcd"))).start()
    yield server
    server.stop()


@pytest.fixture
def data(etcd):
    d = EtcdData(etcd)
    yield d
    d.client.close()


@pytest.fixture
def ups():
    """Make small upstream DNS servers (helpers.upstreams.Upstream) for the test; closed after it."""
    made = []

    def make(*a, **k):
        u = Upstream(*a, **k)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()
