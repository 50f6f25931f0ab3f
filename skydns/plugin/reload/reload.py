"""reload: poll the Corefile's checksum and reload the server when it changes.

The checksum covers the Corefile and every file it imports. One poller runs
per configuration however many blocks say ``reload``; a reload replaces it
with the new configuration's own.
"""
from __future__ import annotations

import hashlib
import random

from twisted.logger import Logger

log = Logger(namespace="skydns.plugin.reload")


def digest(files: list[str]) -> str:
    """SHA-512 over the contents of ``files`` (a missing file counts as empty)."""
    h = hashlib.sha512()
    for path in files:
        h.update(path.encode() + b"\0")
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(b"\0missing")
    return h.hexdigest()


class Reloader:
    """Checks the configuration files every INTERVAL (+/- JITTER) and asks the service to reload.

    One per configuration (``Block.shared``): every block that says ``reload``
    starts it, and it stops when the last of them is retired.
    """

    def __init__(self, service, files, loaded: str, interval: float, jitter: float, reactor):
        self.service = service
        self.files = files
        self.loaded = loaded
        self.interval = interval
        self.jitter = jitter
        self.reactor = reactor
        self.call = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        if self.starts == 1:
            log.info("watching {files} for changes every {interval:g}s", files=", ".join(self.files),
                     interval=self.interval)
            self._schedule()

    def _schedule(self) -> None:
        delay = self.interval + random.uniform(-self.jitter, self.jitter)
        self.call = self.reactor.callLater(max(delay, 0.5), self.check)

    def check(self) -> None:
        self.call = None
        now = digest(self.files)
        if now != self.loaded:
            log.info("{file} changed, reloading", file=self.files[0])
            self.loaded = now  # a failed reload is not retried until the files change again
            self.service.reload()
        self._schedule()

    def stop(self) -> None:
        self.starts -= 1
        if self.starts <= 0 and self.call is not None and self.call.active():
            self.call.cancel()
            self.call = None
