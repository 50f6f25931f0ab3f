"""Corefile::

    api [ADDRESS] {
        token NAME SECRET read|write [NAMES...]   a named token (several lines: several tokens)
        tokens FILE                               more of them, one per line, as above (# comments)
        token TOKEN | token_file FILE             one token that may change every name (named "token")
        tls [CERT KEY]                            HTTPS; without files, the tls directive's certificate
        console                                   the web console at /skydns/console/ (same tokens)
    }

ADDRESS defaults to ``localhost:9001`` (the Kubernetes fork's port). The API
writes where the block's record source (the *etcd* plugin) reads from;
relative names are taken in that source's first zone. SECRET is best given as
``sha256:HEX`` (``skydns token NAME`` makes a token and prints it so); a plain
secret is hashed as it is read. A write token changes NAMES and everything below
them (every served name when none is given); every token reads. ``$SKYDNS_API_TOKEN``
is the token when no property gives one.
"""
from __future__ import annotations

import os
from typing import cast

from twisted.web.resource import IResource, Resource
from zope.interface import implementer

from skydns.interfaces import IPluginSetup, IWritableSource
from skydns.listen.httpserver import address_argument, shared_listener
from skydns.plugin.api.resource import RecordsAPI
from skydns.plugin.api.tokens import ACCESS, Token, Tokens, parse_secret
from skydns.query.zones import in_zones


@implementer(IPluginSetup)
class ApiSetup:
    name = "api"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "api 127.0.0.1:${http_port} {\n    token ${api_token}\n}"

    def parse(self, d, block):
        d.next()
        host, port = address_argument(d, "localhost", 9001)
        tokens: list[Token] = []
        tls = None
        console = False
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "token" and len(vals) == 1:
                tokens.append(self._token(d, ["token", vals[0], "write"]))
            elif prop == "token":
                if len(vals) < 3:
                    raise d.error("token takes TOKEN, or NAME SECRET read|write [NAMES...]")
                tokens.append(self._token(d, vals))
            elif prop == "token_file":
                d.expect_args(vals, 1)
                tokens.append(self._token(d, ["token", self._read(d, vals[0]).strip(), "write"]))
            elif prop == "tokens":
                d.expect_args(vals, 1)
                for n, line in enumerate(self._read(d, vals[0]).splitlines(), 1):
                    words = line.partition("#")[0].split()
                    if words:
                        if len(words) < 3:
                            raise d.error(f"{vals[0]} line {n}: NAME SECRET read|write [NAMES...]")
                        tokens.append(self._token(d, words, f"{vals[0]} line {n}: "))
            elif prop == "tls":
                tls = self._tls(d, block, vals)
            elif prop == "console":
                d.expect_args(vals, 0)
                console = True
            else:
                raise d.unknown_property(("token", "tokens", "token_file", "tls", "console"))
        if not tokens and os.environ.get("SKYDNS_API_TOKEN"):
            tokens.append(self._token(d, ["token", os.environ["SKYDNS_API_TOKEN"], "write"], "$SKYDNS_API_TOKEN: "))
        if not tokens:
            raise d.error("the API needs a token (token, tokens, token_file or $SKYDNS_API_TOKEN)")
        names = [t.name for t in tokens]
        twice = {n for n in names if names.count(n) > 1}
        if twice:
            raise d.error(f"two tokens are named {sorted(twice)[0]}")
        if len({t.digest for t in tokens}) != len(tokens):
            raise d.error("two tokens have the same secret")
        if d.next():
            raise d.once_error()
        return host, port, tokens, tls, console, (d.token.file, d.token.line)

    @staticmethod
    def _read(d, path: str) -> str:
        try:
            with open(d.path(path)) as f:
                return f.read()
        except OSError as e:
            raise d.error(f"cannot read {path}: {e.strerror}") from e

    @staticmethod
    def _token(d, words: list[str], where: str = "") -> Token:
        name, secret, access, *names = words
        try:
            hashed = parse_secret(secret)
        except ValueError as e:  # the secret itself never goes into the message
            raise d.error(f"{where}token {name}: {e}") from None
        if access not in ACCESS:
            raise d.error(f"{where}token {name}: access is read or write, not '{access}'")
        if names and access == "read":
            raise d.error(f"{where}token {name}: a read token reads every name; names are for write tokens")
        return Token(name, hashed, access == "write", tuple(d.zones(names)))

    @staticmethod
    def _tls(d, block, vals: list[str]):
        if not vals:  # the block's own certificate
            cfg = block.settings.tls
            if cfg is None:
                raise d.error("tls without CERT KEY takes the tls directive's certificate: add tls CERT KEY "
                              "to this server block")
            return (cfg.cert, cfg.key)
        if len(vals) != 2:
            raise d.error("tls needs CERT and KEY (or nothing: the tls directive's)")
        vals = [d.path(f) for f in vals]
        for f in vals:
            if not os.access(f, os.R_OK):
                raise d.error(f"tls: cannot read {f}")
        return tuple(vals)

    def build(self, cfg, block, next):
        host, port, tokens, tls, console, where = cfg
        reactor = block.reactor
        source = block.require(IWritableSource, self.name, "a record source to write to (the etcd plugin)")
        for t in tokens:
            outside = [n for n in t.names if in_zones(n, list(source.zones)) is None]
            if outside:
                raise block.error(self.name, f"token {t.name}: {outside[0]} is outside the served zones")
        api = RecordsAPI(Tokens(tokens), reactor, block.clock)
        listener = shared_listener(block, host, port, where, tls)
        root = Resource()
        root.putChild(b"api", cast(IResource, api))
        if console:
            from skydns.plugin.api.console.setup import build_console

            root.putChild(b"console", cast(IResource, build_console(block, api, source, (host, port))))
        listener.mount("/skydns", root)
        api.attach(source)  # it reads nothing until asked: etcd is reached on the first request
        return None


setup = ApiSetup()
