"""Test session set-up shared by the project's tests and the example plugins' tests.

The example third-party plugins (plugins/skydns-txt, -dns64, -rewrite, -hosts)
are installed into the test environment when they are missing (``make
setup`` installs them editable), as a user would install them, so the tests
exercise discovery through the ``skydns.plugins`` entry point.
"""
import importlib
import importlib.metadata
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = {"txt": "skydns-txt", "dns64": "skydns-dns64", "rewrite": "skydns-rewrite", "hosts": "skydns-hosts"}


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # a pytest-xdist worker: the controller has installed what was missing
    names = {ep.name for ep in importlib.metadata.entry_points(group="skydns.plugins")}
    missing = [os.path.join(ROOT, "plugins", dist) for name, dist in EXAMPLES.items() if name not in names]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"] + missing, check=True)
        importlib.invalidate_caches()
