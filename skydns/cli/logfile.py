"""A twistd log observer for busy query logs: ``twistd --logger=skydns.cli.logfile.observer skydns ...``.

twistd's ``--logfile`` rotates every 1 MB and keeps every rotated file,
renaming all of them at each rotation: with a query log at tens of thousands
of lines a second that is most of the cost. This observer writes to
``$SKYDNS_LOGFILE`` (default ``skydns.log``), rotates at
``$SKYDNS_LOGFILE_ROTATE_MB`` (default 100) and keeps
``$SKYDNS_LOGFILE_KEEP`` rotated files (default 5). SIGUSR1 still rotates
(twistd wires it to the observer's file when it has one).
"""
from __future__ import annotations

import os

from twisted.logger import textFileLogObserver
from twisted.python.logfile import LogFile


def observer():
    path = os.environ.get("SKYDNS_LOGFILE", "skydns.log")
    rotate = int(float(os.environ.get("SKYDNS_LOGFILE_ROTATE_MB", "100")) * 1_000_000)
    keep = int(os.environ.get("SKYDNS_LOGFILE_KEEP", "5"))
    logfile = LogFile.fromFullPath(os.path.abspath(path), rotateLength=rotate, maxRotatedFiles=keep)
    return textFileLogObserver(logfile)
