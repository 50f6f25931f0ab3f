"""One kind of object kept current: list, then watch from the list's version, list again on 410 Gone.

Client-go's reflector, in one thread of its own (a watch blocks for minutes): a list hands
the whole set to the reactor (``deliver("LIST", items)``), each event one object
(``deliver("ADDED" | "MODIFIED" | "DELETED", obj)``); a ``BOOKMARK`` moves the version
on without an object, so a watch started again after a quiet while does not ask for a
version the server has forgotten. Errors are logged once per kind of error and retried
with a growing pause; 401 and 403 say what to check.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from twisted.logger import Logger

from skydns.plugin.kubewatch.api import Api, ApiError, Gone

log = Logger(namespace="skydns.plugin.kubewatch")
RETRY_MIN, RETRY_MAX = 0.5, 10.0


class Reflector:
    def __init__(self, reactor, api: Api, path: str, params: dict, deliver: Callable, what: str):
        self.reactor = reactor
        self.api = api
        self.path = path
        self.params = params
        self.deliver = deliver  # called in the reactor thread
        self.what = what  # "services", "endpointslices in default": for the log
        self.version = ""
        self.lists = 0
        self.events = 0
        self.errors = 0
        self.listed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"kubewatch {self.what}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.api.close()

    def _run(self) -> None:
        retry = RETRY_MIN
        while not self._stop.is_set():
            try:
                items, self.version = self.api.list(self.path, self.params)
                self.lists += 1
                self.listed = True
                self.reactor.callFromThread(self.deliver, "LIST", items)
                self._recovered()
                retry = RETRY_MIN
                while not self._stop.is_set():
                    for event in self.api.watch(self.path, self.params, self.version):
                        kind, obj = event.get("type"), event.get("object") or {}
                        version = (obj.get("metadata") or {}).get("resourceVersion")
                        if version:
                            self.version = str(version)
                        if kind == "BOOKMARK":
                            continue
                        self.events += 1
                        self.reactor.callFromThread(self.deliver, kind, obj)
            except Gone:
                log.info("kubewatch: {what} at version {version} is gone (410): listing again", what=self.what,
                         version=self.version)
            except Exception as e:  # 401, 403, unreachable: retried, said once
                self.errors += 1
                self._failed(e)
                self._stop.wait(retry)
                retry = min(retry * 2, RETRY_MAX)

    def _failed(self, e: Exception) -> None:
        text = f"{e.code} {e.message}" if isinstance(e, ApiError) else f"{type(e).__name__}: {e}"
        if text != self._last_error:
            self._last_error = text
            log.warn("kubewatch: cannot list or watch {what}: {error}; retrying", what=self.what, error=text)

    def _recovered(self) -> None:
        if self._last_error:
            log.info("kubewatch: {what} listed again after: {error}", what=self.what, error=self._last_error)
            self._last_error = ""
