"""A plugin's Corefile parsing tested from text: the configuration it parses to, or the error it gives.

::

    cfg, = parsed("example.org {\\n mything 3\\n}\\n", setup, registry(setup))
    assert error("example.org {\\n mything x\\n}\\n", registry(setup)) == \\
        "Corefile:2 - plugin/mything: 'x' is not a number"

Errors carry the file and line of the directive as ``skydns validate`` prints them.
"""
from __future__ import annotations

import os
import tempfile

from skydns.config.errors import CorefileError


def load(text: str, registry=None, directory: str | None = None):
    """Parse ``text`` as a Corefile (every directive's ``parse``, no build): a ``skydns.config.Config``.
    Raises :class:`~skydns.config.errors.CorefileError` as the server would refuse it."""
    from skydns import config

    if directory is not None:
        path = os.path.join(directory, "Corefile")
        with open(path, "w") as f:
            f.write(text)
        return config.load(path, registry)
    with tempfile.TemporaryDirectory() as tmp:
        return load(text, registry, tmp)


def parsed(text: str, setup, registry=None) -> list:
    """What ``setup.parse`` returned for each server block of ``text`` that uses its directive."""
    return [cfg for _block, cfg in load(text, registry).parsed(setup)]


def error(text: str, registry=None) -> str:
    """The error ``text`` is refused with, as printed (``Corefile:LINE - plugin/NAME: ...``);
    AssertionError when it parses."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            load(text, registry, tmp)
        except CorefileError as e:
            return str(e).replace(os.path.join(tmp, ""), "")
    raise AssertionError("the Corefile parsed without an error")
