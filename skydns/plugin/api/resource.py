"""The records HTTP API: ``/skydns/api/...``, JSON in and out, a token on every request.

    GET    /skydns/api/records[?prefix=NAME&limit=N&cursor=C]   list
    GET    /skydns/api/records/NAME                              show
    PUT    /skydns/api/records/NAME[?ttl=SECONDS]                add or replace (POST too)
    DELETE /skydns/api/records/NAME                              delete
    POST   /skydns/api/NAME                                      the Kubernetes fork's add (as PUT above)
    GET    /skydns/api/NAME, DELETE /skydns/api/NAME             the fork's show and delete
    PUT    /skydns/api/NAME   {"update": BODY}                   the fork's update: the record becomes BODY
    GET    /skydns/api                                           the fork's list
    GET    /skydns/api/openapi.json                              this API's description (no token)

The token is ``Authorization: Bearer TOKEN``, ``X-Auth-Token: TOKEN`` or
``?token=TOKEN`` (as the fork's clients send it), or the console's session
cookie with its CSRF header (:mod:`skydns.plugin.api.console.sessions`), found by its hash
(:mod:`skydns.plugin.api.tokens`): a read token reads, a write token also
changes the names it was given (403 for others), and the history of names notes
its name as the author of each write (``api:NAME``). An address that keeps
giving wrong tokens gets 429 for a while.

Only names inside the record source's zones are read or written (403 otherwise):
the API cannot reach SkyDNS's ``config`` key, the health monitor's status keys,
or anything else under the etcd path that is not a served name; the store refuses
those keys too. Errors of the store are logged; the client hears that it failed,
not etcd's own words.
"""
from __future__ import annotations

import json
import os

from twisted.internet import threads
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from skydns.clients.etcd.connection import Refused, explain, is_etcd_error
from skydns.msg.records import RecordError, describe, entries, normalise_name
from skydns.plugin.api.tokens import Throttle, Token, Tokens
from skydns.query.zones import in_zones

log = Logger(namespace="skydns.plugin.api")
MAX_BODY = 64 * 1024
#: How the history notes the author of a write through the API: the token's name after it.
AUTHOR_PREFIX = "api:"
OPENAPI = os.path.join(os.path.dirname(__file__), "openapi.json")


#: What a client hears when etcd fails; etcd's own words (its address, gRPC's text) go to the log.
UNREACHABLE = "the store did not take the request (etcd unreachable or refusing it; see the server's log)"


class ApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class RecordsAPI(Resource):
    isLeaf = True

    def __init__(self, tokens: Tokens, reactor, clock=None):
        super().__init__()
        self.tokens = tokens
        self.reactor = reactor
        clock = clock if clock is not None else reactor
        self.throttle = Throttle(clock.seconds)
        self.source = None  # set at start-up: the block's writable record source (IWritableSource)
        self.sessions = None  # the console's sessions (console.sessions.Sessions), when it is on

    def attach(self, source) -> None:
        self.source = source

    def records(self):
        """In a thread: the source's record store (IRecordStore)."""
        if self.source is None:
            raise ApiError(503, "not started yet")
        try:
            return self.source.store()
        except Exception as e:
            log.warn("records API: the store is unreachable: {error}", error=e)
            raise ApiError(503, UNREACHABLE) from e

    def zone(self) -> str:
        return self.source.zones[0] if self.source is not None else "."

    def inside(self, name: str) -> str:
        """``name``, when it is inside the served zones; else 403."""
        if self.source is None:
            raise ApiError(503, "not started yet")
        zones: list[str] = self.source.zones
        if in_zones(name, zones) is None:
            raise ApiError(403, f"{name} is outside the served zones ({', '.join(zones)})")
        return name

    def render(self, request):
        request.setHeader(b"content-type", b"application/json")
        parts = [p for p in request.path.decode("utf-8", "replace").split("/") if p]
        if parts[:2] == ["skydns", "api"]:
            parts = parts[2:]
        else:
            return self._reply(request, 404, {"error": "not found"})
        if parts == ["openapi.json"] and request.method == b"GET":
            with open(OPENAPI, "rb") as f:
                return f.read()
        host = request.getClientAddress().host if request.getClientAddress() is not None else "?"
        wait = self.throttle.wait(host)
        if wait > 0:
            request.setHeader(b"retry-after", str(int(wait) + 1).encode())
            return self._reply(request, 429, {"error": "too many wrong tokens from this address; try later"})
        token = self._token(request)
        if token is None:
            penalty = self.throttle.failed(host)
            if penalty:
                log.warn("records API: wrong tokens from {host}; refused for {seconds:.0f} s", host=host,
                         seconds=penalty)
            return self._reply(request, 401, {"error": "missing or wrong token"})
        self.throttle.succeeded(host)
        try:
            work = self._route(request, parts, token)
        except ApiError as e:
            return self._reply(request, e.code, {"error": str(e)})
        except RecordError as e:
            return self._reply(request, 400, {"error": str(e)})
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), work)
        d.addCallbacks(lambda out: self._finish(request, *out), lambda f: self._failed(request, f))
        return NOT_DONE_YET

    def _token(self, request) -> Token | None:
        given = b""
        auth = request.getHeader(b"authorization") or b""
        if auth.lower().startswith(b"bearer "):
            given = auth[7:].strip()
        given = given or request.getHeader(b"x-auth-token") or b""
        if not given and b"token" in request.args:
            given = request.args[b"token"][0]
        if not given and self.sessions is not None:  # the console: its cookie, and its CSRF header
            session = self.sessions.of(request)
            if session is not None and self.sessions.may_write(request, session):
                return self.tokens.by_digest(session.digest)
        return self.tokens.find(given)

    @staticmethod
    def _may_change(token: Token, name: str) -> None:
        if not token.write:
            raise ApiError(403, f"token {token.name} is read-only")
        if not token.may_change(name):
            raise ApiError(403, f"token {token.name} may not change {name}")

    def _reply(self, request, code: int, obj) -> bytes:
        request.setResponseCode(code)
        return json.dumps(obj).encode() + b"\n"

    def _finish(self, request, code, obj):
        if not request._disconnected:
            request.write(self._reply(request, code, obj))
            request.finish()

    def _failed(self, request, failure):
        err = failure.value
        if isinstance(err, ApiError):
            code, msg = err.code, str(err)
        elif isinstance(err, RecordError):
            code, msg = 400, str(err)
        elif isinstance(err, Refused):  # etcd's roles: one line saying what to grant, for the operator
            log.warn("records API: {why}", why=err)
            code, msg = 503, UNREACHABLE
        elif is_etcd_error(err):
            log.warn("records API: {why}", why=explain(err))
            code, msg = 503, UNREACHABLE
        else:
            log.failure("records API: the store failed", failure)
            code, msg = 503, UNREACHABLE
        self._finish(request, code, {"error": msg})

    # -- requests -------------------------------------------------------------
    def _body(self, request):
        raw = request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise ApiError(400, f"body larger than {MAX_BODY} bytes")
        try:
            return json.loads(raw or b"null")
        except ValueError as e:
            raise ApiError(400, f"body is not JSON: {e}") from e
        except RecursionError:
            raise ApiError(400, "body is nested too deeply") from None

    def _route(self, request, parts, token: Token):
        method = request.method
        if method not in (b"GET", b"HEAD") and not token.write:
            raise ApiError(403, f"token {token.name} is read-only")
        if parts and parts[0] == "records":
            if len(parts) == 1:
                if method != b"GET":
                    raise ApiError(405, "use GET on /records, or PUT/DELETE on /records/NAME")
                return self._list_work(request)
            if len(parts) != 2:
                raise ApiError(404, "not found")
            name = self.inside(normalise_name(parts[1], self.zone()))
            if method == b"GET":
                return lambda: self._show(name)
            if method in (b"PUT", b"POST"):
                return self._write_work(request, name, token)
            if method == b"DELETE":
                self._may_change(token, name)
                return lambda: self._delete(name, token)
            raise ApiError(405, "use GET, PUT, POST or DELETE")
        if not parts and method == b"GET":  # the Kubernetes fork's list
            return self._list_work(request)
        if len(parts) == 1:  # the Kubernetes fork's forms
            name = self.inside(normalise_name(parts[0], self.zone()))
            if method == b"POST":
                return self._write_work(request, name, token)
            if method == b"PUT":
                return self._write_work(request, name, token, update=True)
            if method == b"GET":
                return lambda: self._show(name)
            if method == b"DELETE":
                self._may_change(token, name)
                return lambda: self._delete(name, token)
            raise ApiError(405, "use GET, POST, PUT {\"update\": ...} or DELETE")
        raise ApiError(404, "not found")

    def _list_work(self, request):
        args = {k.decode(): v[0].decode("utf-8", "replace") for k, v in request.args.items()}
        prefix = self.inside(normalise_name(args["prefix"], self.zone())) if args.get("prefix") else None
        try:
            limit = int(args.get("limit", "100"))
        except ValueError:
            raise ApiError(400, "limit must be a number") from None
        if not 1 <= limit <= 1000:
            raise ApiError(400, "limit must be between 1 and 1000")
        cursor = args.get("cursor") or None

        def work():
            records, nxt = self.records().list(prefix, limit, cursor)
            return 200, {"records": [dict(name=n, **describe(s)) for n, s in records], "next": nxt}
        return work

    def _show(self, name):
        found = self.records().show(name)
        if found is None:
            return 404, {"error": f"no record named {name}"}
        return 200, dict(name=name, **describe(found))

    def _write_work(self, request, name, token: Token, update: bool = False):
        body = self._body(request)
        if update:
            if not isinstance(body, dict) or set(body) != {"update"}:
                raise ApiError(400, "PUT on /skydns/api/NAME takes {\"update\": BODY}")
            body = body["update"]
        writes = entries(name, body, self.zone())
        for written, _leaf, _service in writes:  # a CNAME body writes its alias's name
            self._may_change(token, self.inside(written))
        ttl = None
        if b"ttl" in request.args:
            try:
                ttl = int(request.args[b"ttl"][0])
            except ValueError:
                raise ApiError(400, "ttl must be a number of seconds") from None
            if not 1 <= ttl <= 10 ** 8:
                raise ApiError(400, "ttl must be between 1 and 100000000 seconds")

        def work():
            self.records().replace(writes, ttl, author=AUTHOR_PREFIX + token.name)
            return 200, {"written": [n for n in dict.fromkeys(w[0] for w in writes)], "keys": len(writes)}
        return work

    def _delete(self, name, token: Token):
        if not self.records().delete(name, author=AUTHOR_PREFIX + token.name):
            return 404, {"error": f"no record named {name}"}
        return 200, {"deleted": name}
