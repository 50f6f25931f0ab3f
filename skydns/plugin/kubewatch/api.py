"""The Kubernetes API's list and watch, blocking (run in kubewatch's own threads).

A list is read page by page (``limit``/``continue``) and gives the items and the list's
``resourceVersion``; a watch from that version streams events, one JSON object per line
of a chunked response (``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK`` with
``allowWatchBookmarks``, ``ERROR`` with a ``Status``), until the server ends it
(``timeoutSeconds``). A version the server no longer has answers 410 Gone, as a status or
as an ``ERROR`` event: :class:`Gone`, and the caller lists again.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from skydns.plugin.kubewatch.credentials import Credentials

#: Items per page of a list.
PAGE = 500
#: A watch asks the server to end it after this long (it is then watched again from its version).
WATCH_SECONDS = 240


class ApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class Gone(ApiError):
    """410: the resource version is too old (compacted): list again."""


def _error(status: int, body: bytes, what: str) -> ApiError:
    message = ""
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        pass
    if status == 401:
        message = "unauthorized: the token or certificate was refused (expired? rotated?)"
    elif status == 403:
        message = f"forbidden: the account may not list and watch {what} ({message})"
    cls = Gone if status == 410 else ApiError
    return cls(status, message or http.client.responses.get(status, "error"))


class Api:
    def __init__(self, credentials: Credentials, timeout: float = 10.0):
        self.credentials = credentials
        url = urlsplit(credentials.server)
        self.secure = url.scheme == "https"
        self.host = url.hostname or ""
        self.port = url.port or (443 if self.secure else 80)
        self.timeout = timeout
        self._open: set = set()  # connections in use (closed by close(), which ends a watch at once)
        self._lock = threading.Lock()

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self.secure:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self.credentials.ssl_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        with self._lock:
            self._open.add(conn)
        return conn

    def _release(self, conn) -> None:
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def close(self) -> None:
        """End every request in flight (a watch's thread returns at once)."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _request(self, path: str, params: dict, timeout: float | None):
        conn = self._connect(timeout)
        headers = {"Accept": "application/json", "User-Agent": "skydns-kubewatch"}
        token = self.credentials.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("GET", f"{path}?{urlencode(params)}" if params else path, headers=headers)
            response = conn.getresponse()
        except BaseException:
            self._release(conn)
            raise
        if response.status != 200:
            body = response.read()
            self._release(conn)
            raise _error(response.status, body, path.rsplit("/", 1)[-1])
        return conn, response

    def list(self, path: str, params: dict) -> tuple[list[dict], str]:
        """Every item (page by page) and the list's resourceVersion."""
        items: list[dict] = []
        token = ""
        while True:
            page = dict(params, limit=PAGE, **({"continue": token} if token else {}))
            conn, response = self._request(path, page, self.timeout)
            try:
                body = json.loads(response.read())
            finally:
                self._release(conn)
            items.extend(body.get("items") or [])
            meta = body.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    def watch(self, path: str, params: dict, version: str) -> Iterator[dict]:
        """The events after ``version``, as they come, until the server ends the watch (or :meth:`close`)."""
        query = dict(params, watch="true", resourceVersion=version, allowWatchBookmarks="true",
                     timeoutSeconds=WATCH_SECONDS)
        conn, response = self._request(path, query, WATCH_SECONDS + 30)
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    code = int(status.get("code") or 500)
                    raise (Gone if code == 410 else ApiError)(code, status.get("message", "watch error"))
                yield event
        except (OSError, http.client.HTTPException, ValueError):
            return  # the stream broke or was closed: the caller watches again from its version
        finally:
            self._release(conn)
