"""The console's HTTP side: ``/skydns/console/...``, mounted beside the records API on its listener.

    GET  /skydns/console/                 the page (the login form without a session)
    GET  /skydns/console/static/FILE      its script and style (shipped in the package)
    POST /skydns/console/login            token=TOKEN (a form): a session cookie, then the page
    POST /skydns/console/logout           the session ends (CSRF header)
    GET  /skydns/console/data/VIEW        JSON for the page: session, zones, children, search, name,
                                          health, instance, traffic
    GET  /skydns/console/events           Server-Sent Events: what changed

Writes go to the records API itself (``/skydns/api/records/NAME``) with the session's
cookie and its CSRF header: the same tokens, the same scopes, the same checks. Every
response carries a Content-Security-Policy that allows only the console's own
script, style and requests, and nothing is ever rendered that holds a secret.
"""
from __future__ import annotations

import html
import json
import os

from twisted.internet import threads
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from skydns.interfaces import IRecordHistory
from skydns.plugin.api.console.views import BadRequest, Views, _name

log = Logger(namespace="skydns.plugin.api.console")
STATIC = os.path.join(os.path.dirname(__file__), "static")
FILES = {"console.js": b"text/javascript; charset=utf-8", "console.css": b"text/css; charset=utf-8",
         "favicon.svg": b"image/svg+xml"}
CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_LOGIN_BODY = 4096


def _read(name: str) -> bytes:
    with open(os.path.join(STATIC, name), "rb") as f:
        return f.read()


class Console(Resource):
    isLeaf = True

    def __init__(self, api, sessions, events, traffic, block, source):
        super().__init__()
        self.api = api  # the records API: its tokens and its throttle of wrong tokens
        self.sessions = sessions
        self.events = events
        self.views = Views(source, block, traffic)
        self.source = source
        self.traffic = traffic
        self.assets = {name: _read(name) for name in FILES}
        self.page = _read("index.html")
        self.login_page = _read("login.html").decode()

    def changed(self, name) -> None:
        self.events.changed(name)

    # -- requests ---------------------------------------------------------------------------------
    def render(self, request):
        request.setHeader(b"content-security-policy", CSP)
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"referrer-policy", b"same-origin")  # no-referrer would make Origin "null"
        request.setHeader(b"x-frame-options", b"DENY")
        if request.path == b"/skydns/console":  # the page's relative links need the slash
            request.setResponseCode(301)
            request.setHeader(b"location", b"/skydns/console/")
            return b""
        parts = [p for p in request.path.decode("utf-8", "replace").split("/") if p][2:]
        method = request.method
        if parts[:1] == ["static"] and len(parts) == 2 and parts[1] in FILES and method in (b"GET", b"HEAD"):
            request.setHeader(b"content-type", FILES[parts[1]])
            request.setHeader(b"cache-control", b"no-cache")
            return self.assets[parts[1]]
        request.setHeader(b"cache-control", b"no-store")
        if parts == ["login"] and method == b"POST":
            return self._login(request)
        session = self.sessions.of(request)
        token = self.api.tokens.by_digest(session.digest) if session is not None else None
        if token is None:
            if parts and parts[0] in ("data", "events", "logout"):
                return self._json(request, 401, {"error": "log in first"})
            return self._html(request, 200, self._login_form(""))
        if not parts and method == b"GET":
            return self._html(request, 200, self.page)
        if parts == ["logout"] and method == b"POST":
            if not self.sessions.may_write(request, session):
                return self._json(request, 403, {"error": "missing CSRF token"})
            self.sessions.close(session)
            self.sessions.set_cookie(request, None)
            return self._json(request, 200, {"logged_out": True})
        if parts == ["events"] and method == b"GET":
            self.events.open(request)
            return NOT_DONE_YET
        if len(parts) == 2 and parts[0] == "data" and method == b"GET":
            return self._data(request, parts[1], session, token)
        return self._json(request, 404, {"error": "not found"})

    def _login(self, request):
        if not self.sessions.same_origin(request):  # no other site's page logs a browser in (login CSRF)
            return self._html(request, 403, self._login_form("Log in from the console's own page."))
        host = request.getClientAddress().host if request.getClientAddress() is not None else "?"
        wait = self.api.throttle.wait(host)
        if wait > 0:
            request.setHeader(b"retry-after", str(int(wait) + 1).encode())
            return self._html(request, 429, self._login_form("Too many wrong tokens from this address; try later."))
        given = (request.args.get(b"token") or [b""])[0].strip()[:MAX_LOGIN_BODY]
        token = self.api.tokens.find(given)
        if token is None:
            self.api.throttle.failed(host)
            return self._html(request, 401, self._login_form("That token is not one of this server's."))
        self.api.throttle.succeeded(host)
        session = self.sessions.open(token.digest)
        self.sessions.set_cookie(request, session)
        log.info("console: token {name} logged in from {host}", name=token.name, host=host)
        request.setResponseCode(303)
        request.setHeader(b"location", b"/skydns/console/")
        return b""

    def _login_form(self, message: str) -> bytes:
        return self.login_page.replace("{message}", html.escape(message)).encode()

    def _data(self, request, view: str, session, token):
        args = {k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace") for k, v in request.args.items()}
        views = self.views
        simple = {"zones": lambda: views.zones(), "children": lambda: views.children(args),
                  "search": lambda: views.search(args), "health": lambda: views.health(args),
                  "instance": views.instance, "traffic": self.traffic.series,
                  "session": lambda: {"token": token.name, "write": token.write, "names": list(token.names),
                                      "csrf": session.csrf}}
        try:
            if view in simple:
                return self._json(request, 200, simple[view]())
            if view == "name":
                return self._name(request, _name(args.get("name", "")), token)
        except BadRequest as e:
            return self._json(request, 400, {"error": str(e)})
        return self._json(request, 404, {"error": f"no view {view}"})

    def _name(self, request, name: str, token):
        """The name page: its answers (from the server), its stored records and history (in a thread)."""
        out: dict = {"name": name, "may_change": token.may_change(name)}

        def stored():
            store = self.source.store()
            records = store.show(name)
            history, compacted = (store.entries(name) if IRecordHistory.providedBy(store) else (None, None))
            return records, history, compacted

        def got(found):
            out["records"], out["history"], out["compacted"] = found
            return self.views.answers(name)

        def answered(answers):
            out["answers"] = answers
            self._finish(request, 200, out)

        def failed(f):
            log.warn("console: reading {name} failed: {why}", name=name, why=f.getErrorMessage())
            self._finish(request, 503, {"error": "the store did not answer (see the server's log)"})

        d = threads.deferToThreadPool(self.api.reactor, self.api.reactor.getThreadPool(), stored)
        d.addCallback(got).addCallbacks(answered, failed)
        return NOT_DONE_YET

    # -- responses ------------------------------------------------------------------------------------
    @staticmethod
    def _html(request, code: int, body: bytes) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return body

    @staticmethod
    def _json(request, code: int, obj) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(obj).encode()

    def _finish(self, request, code: int, obj) -> None:
        if not request._disconnected:
            request.write(self._json(request, code, obj))
            request.finish()
