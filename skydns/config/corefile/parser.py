"""Server blocks from Corefile tokens: keys, directives, snippets and imports.

The grammar is Caddy v1's, as CoreDNS uses it::

    (snippet) { TOKENS }
    KEY [KEY...] {            # KEY: [dns://]ZONE[:PORT], ZONE may be a CIDR
        directive ARGS... [{
            property ARGS...
        }]
        import SNIPPET | FILE_GLOB
    }

A directive ends at the end of its line unless that line ends with ``{``.
When a Corefile has only one server block its braces may be left out.
"""
from __future__ import annotations

import dataclasses
import glob as globmod
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.name

from skydns.config.corefile.lexer import Token, tokenize
from skydns.config.errors import CorefileError

DEFAULT_PORT = 53
MAX_IMPORT_DEPTH = 10
#: Transports a server block key may name, with their default ports (CoreDNS's schemes).
TRANSPORTS = {"dns": None, "tls": 853, "https": 443}  # dns: the command line's port (53)
#: Transports that cannot be served without a certificate (https may be plain HTTP behind a TLS proxy).
NEED_CERTIFICATE = frozenset({"tls"})


@dataclass(frozen=True)
class Key:
    """One ``ZONE[:PORT]`` key of a server block, normalised."""

    zone: str  # lower case, dot-terminated
    port: int
    text: str  # as written
    file: str
    line: int
    transport: str = "dns"  # dns (UDP and TCP), tls (DNS over TLS) or https (DNS over HTTPS)


@dataclass
class Directive:
    """One occurrence of a directive: its name token, arguments and sub-block tokens."""

    name: str
    tokens: list[Token]

    @property
    def file(self) -> str:
        return self.tokens[0].file

    @property
    def line(self) -> int:
        return self.tokens[0].line


@dataclass
class ServerBlock:
    """A server block as written: its keys and its directives in Corefile order."""

    keys: list[Key]
    directives: list[Directive] = field(default_factory=list)
    file: str = ""
    line: int = 0

    def names(self) -> list[str]:
        """Directive names used in the block, each once, in Corefile order."""
        seen: dict[str, None] = {}
        for d in self.directives:
            seen.setdefault(d.name, None)
        return list(seen)

    def occurrences(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name]


def _err(tok: Token, message: str) -> CorefileError:
    return CorefileError(message, tok.file, tok.line)


def reverse_zones(cidr: str) -> list[str]:
    """Reverse zones for a CIDR key (``10.0.0.0/8`` -> ``10.in-addr.arpa.``), as CoreDNS does.

    A prefix that is not on a label boundary (8 bits for IPv4, 4 for IPv6) is
    widened into the zones of every boundary-aligned subnet it holds.
    """
    net = ipaddress.ip_network(cidr, strict=True)
    step = 8 if net.version == 4 else 4
    width = net.max_prefixlen
    aligned = -(-net.prefixlen // step) * step
    zones = []
    for sub in net.subnets(new_prefix=aligned) if aligned != net.prefixlen else [net]:
        labels = sub.network_address.reverse_pointer.split(".")
        keep = aligned // step
        total = width // step
        zones.append(".".join(labels[total - keep:]).lower() + ".")
    return zones


def parse_key(tok: Token, default_port: int = DEFAULT_PORT) -> list[Key]:
    """Keys for one key token: ``example.org``, ``dns://.:1053``, ``tls://.``, ``10.0.0.0/24:53``."""
    text = tok.text
    rest = text
    transport = "dns"
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        transport = scheme.lower()
        if transport not in TRANSPORTS:
            raise _err(tok, f"unsupported scheme '{scheme}://' in '{text}': skydns serves dns:// (UDP and TCP), "
                            "tls:// (DNS over TLS) and https:// (DNS over HTTPS)")
    port = TRANSPORTS[transport] or default_port
    if ":" in rest:
        host, _, maybe_port = rest.rpartition(":")
        if maybe_port.isdigit() and (host.count(":") == 0 or "/" in host):
            rest = host
            port = int(maybe_port)
            if not 0 <= port < 65536:  # 0: any free port (tests)
                raise _err(tok, f"port {maybe_port} out of range in '{text}'")
        elif maybe_port.isdigit() or maybe_port == "":
            if "/" not in rest:
                raise _err(tok, f"cannot read '{text}': expected ZONE[:PORT]")
    if rest == "":
        raise _err(tok, f"empty zone in '{text}': expected ZONE[:PORT]")
    if "/" in rest:
        try:
            zones = reverse_zones(rest)
        except ValueError as e:
            raise _err(tok, f"bad CIDR '{rest}' in '{text}': {e}") from e
    else:
        try:
            zones = [dns.name.from_text(rest).to_text().lower()]
        except Exception as e:
            raise _err(tok, f"bad zone name '{rest}' in '{text}': {e}") from e
    return [Key(z, port, text, tok.file, tok.line, transport) for z in zones]


class Parser:
    """Turns the tokens of a Corefile into server blocks, expanding imports as it goes."""

    def __init__(self, tokens: list[Token], check_directive: Callable[[str], str | None],
                 default_port: int = DEFAULT_PORT, environ=os.environ):
        self.tokens = list(tokens)
        self.i = 0
        self.check_directive = check_directive
        self.default_port = default_port
        self.environ = environ
        self.snippets: dict[str, list[Token]] = {}
        self.files_read: list[str] = []

    # -- token cursor -------------------------------------------------------
    def _peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _at_line_start(self) -> bool:
        if self.i == 0:
            return True
        prev, cur = self.tokens[self.i - 1], self.tokens[self.i]
        return prev.last_line() != cur.line or prev.file != cur.file

    def _expand_import(self) -> bool:
        """If the cursor is on an ``import`` line, splice in what it names and return True."""
        tok = self._peek()
        if tok is None or tok.text != "import" or tok.quoted or not self._at_line_start():
            return False
        args = []
        j = self.i + 1
        while j < len(self.tokens) and self.tokens[j].line == tok.line and self.tokens[j].file == tok.file:
            args.append(self.tokens[j])
            j += 1
        if len(args) != 1:
            raise _err(tok, "import takes exactly one argument: a snippet name or a file glob")
        if tok.depth >= MAX_IMPORT_DEPTH:
            raise _err(tok, f"imports nested more than {MAX_IMPORT_DEPTH} deep (an import loop?)")
        target = args[0].text
        if target in self.snippets:
            new = [dataclasses.replace(t, depth=tok.depth + 1) for t in self.snippets[target]]
        else:
            new = self._import_files(tok, target)
        self.tokens[self.i:j] = new
        return True

    def _import_files(self, tok: Token, pattern: str) -> list[Token]:
        base = os.path.dirname(tok.file) if tok.file and os.path.sep in tok.file else "."
        path = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
        has_glob = any(c in pattern for c in "*?[")
        matches = sorted(globmod.glob(path))
        if not matches:
            if has_glob:
                return []  # a glob that matches nothing imports nothing, as in Caddy
            raise _err(tok, f"import: no snippet named '{pattern}' and no file {path}")
        out: list[Token] = []
        for m in matches:
            try:
                with open(m, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise _err(tok, f"import: cannot read {m}: {e.strerror}") from e
            self.files_read.append(m)
            out.extend(tokenize(text, m, tok.depth + 1, self.environ))
        return out

    # -- grammar ------------------------------------------------------------
    def parse(self) -> list[ServerBlock]:
        blocks: list[ServerBlock] = []
        while (tok := self._peek()) is not None:
            if self._expand_import():
                continue
            tok = self._peek()
            if tok is None:
                break
            if tok.text.startswith("(") and tok.text.endswith(")") and not tok.quoted:
                self._snippet()
                continue
            blocks.append(self._server_block(first=not blocks))
        return blocks

    def _snippet(self) -> None:
        tok = self.tokens[self.i]
        name = tok.text[1:-1]
        if not name:
            raise _err(tok, "snippet without a name: expected (name) {")
        if name in self.snippets:
            raise _err(tok, f"snippet '{name}' is defined twice")
        self.i += 1
        opener = self._peek()
        if opener is None or opener.text != "{" or opener.line != tok.line:
            raise _err(tok, f"expected '{{' after snippet ({name})")
        self.i += 1
        body = self._until_close(opener)
        self.snippets[name] = body

    def _until_close(self, opener: Token) -> list[Token]:
        """Tokens up to the ``}`` matching ``opener`` (consumed, not returned)."""
        depth = 1
        body: list[Token] = []
        while True:
            tok = self._peek()
            if tok is None:
                raise _err(opener, "unexpected end of file: the '{' opened here is never closed")
            self.i += 1
            if not tok.quoted and tok.text == "{" and self._ends_line(tok):
                depth += 1
            elif not tok.quoted and tok.text == "}":
                depth -= 1
                if depth == 0:
                    return body
            body.append(tok)

    def _ends_line(self, tok: Token) -> bool:
        nxt = self._peek()
        return nxt is None or nxt.line != tok.last_line() or nxt.file != tok.file

    def _server_block(self, first: bool) -> ServerBlock:
        start = self.tokens[self.i]
        if start.text in ("{", "}") and not start.quoted:
            raise _err(start, f"unexpected '{start.text}': expected a server block key such as example.org:53")
        keys: list[Key] = []
        prev: Token | None = None
        while True:
            tok = self._peek()
            if tok is None or (tok.text == "{" and not tok.quoted):
                break
            # Keys end with their line, unless the line ends with a comma.
            if prev is not None and (tok.line != prev.last_line() or tok.file != prev.file) \
                    and not prev.text.endswith(","):
                break
            for part in tok.text.split(","):
                if part:
                    keys.extend(parse_key(dataclasses.replace(tok, text=part), self.default_port))
            prev = tok
            self.i += 1
        tok = self._peek()
        block = ServerBlock(keys, [], start.file, start.line)
        if tok is not None and tok.text == "{" and not tok.quoted:
            self.i += 1
            self._directives(block, closer=tok)
        elif first:
            self._directives(block, closer=None)
            extra = self._peek()
            if extra is not None:
                raise _err(extra, "unexpected token after an unbraced server block")
        else:
            where = tok or self.tokens[-1]
            raise _err(where, "expected '{' to open the server block "
                              f"for {', '.join(k.text for k in keys)}")
        return block

    def _directives(self, block: ServerBlock, closer: Token | None) -> None:
        while True:
            tok = self._peek()
            if tok is None:
                if closer is not None:
                    raise _err(closer, "unexpected end of file: the server block opened here is never closed")
                return
            if self._expand_import():
                continue
            if tok.text == "}" and not tok.quoted:
                if closer is None:
                    raise _err(tok, "unexpected '}'")
                self.i += 1
                return
            if tok.text == "{" and not tok.quoted:
                raise _err(tok, "unexpected '{': expected a directive")
            problem = self.check_directive(tok.text)
            if problem:
                raise _err(tok, problem)
            tokens = [tok]
            self.i += 1
            last = tok
            while True:
                nxt = self._peek()
                if nxt is None or nxt.line != last.last_line() or nxt.file != last.file:
                    break
                tokens.append(nxt)
                self.i += 1
                last = nxt
            if last is not tok and last.text == "{" and not last.quoted:
                body = self._until_close(last)
                tokens.extend(body)
                tokens.append(self.tokens[self.i - 1])
            block.directives.append(Directive(tok.text, tokens))


def parse_text(text: str, file: str, check_directive: Callable[[str], str | None],
               default_port: int = DEFAULT_PORT, environ=os.environ) -> tuple[list[ServerBlock], list[str]]:
    """Server blocks of a Corefile's text, and every file it imported."""
    parser = Parser(tokenize(text, file, 0, environ), check_directive, default_port, environ)
    blocks = parser.parse()
    if not blocks:
        raise CorefileError("no server blocks: expected at least one, such as '. { whoami }'", file)
    return blocks, parser.files_read


def parse_file(path: str, check_directive: Callable[[str], str | None],
               default_port: int = DEFAULT_PORT, environ=os.environ) -> tuple[list[ServerBlock], list[str]]:
    """Server blocks of the Corefile at ``path``, and every file it read (itself first)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CorefileError(f"cannot read the Corefile: {e.strerror}", path) from e
    except UnicodeDecodeError as e:
        raise CorefileError(f"the Corefile is not UTF-8 text: {e}", path) from e
    blocks, imported = parse_text(text, path, check_directive, default_port, environ)
    return blocks, [path] + imported
