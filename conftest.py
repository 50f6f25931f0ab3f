"""Test session set-up shared by the project's tests and the example plugin's tests.

The example third-party plugin (plugins/skydns-txt) is installed into the
test environment when it is missing, as a user would install it, so the
tests exercise discovery through the ``skydns.plugins`` entry point.
"""
import importlib
import importlib.metadata
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(ROOT, "plugins", "skydns-txt")


def pytest_configure(config):
    names = [ep.name for ep in importlib.metadata.entry_points(group="skydns.plugins")]
    if "txt" not in names:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", EXAMPLE],
                       check=True)
        importlib.invalidate_caches()
