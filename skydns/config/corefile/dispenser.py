"""A cursor over one directive's tokens, for a plugin's ``parse``.

Modelled on Caddy's dispenser, which CoreDNS plugins use, in Python form::

    while d.next():                   # each occurrence of the directive in the block
        args = d.remaining_args()     # the rest of its line
        for prop in d.block():        # each line of its { } block
            if d.val == "success": ...
            else: raise d.unknown_property(("success", "denial"))

Errors raised through it name file, line and plugin.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from skydns.config.corefile.lexer import Token
from skydns.config.corefile.parser import Directive
from skydns.config.errors import CorefileError

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (``500ms``, ``1m30s``, ``2h``); a bare number means seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"'{text}' is not a duration (expected e.g. 500ms, 30s, 1m)")
    return total


_SIZE = re.compile(r"(\d+)\s*([kmg]i?b?|b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in a size: ``4096``, ``64k``, ``32M``, ``1GiB`` (K, M, G are powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a size (expected e.g. 65536, 64K, 32M, 1G)")
    unit = (m.group(2) or "b")[0].lower()
    return int(m.group(1)) * {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit]


class Dispenser:
    """Walks the tokens of every occurrence of one directive in one server block."""

    def __init__(self, name: str, occurrences: list[Directive]):
        self.name = name
        self.tokens: list[Token] = []
        self._starts: list[int] = []
        for d in occurrences:
            self._starts.append(len(self.tokens))
            self.tokens.extend(d.tokens)
        self.cursor = -1
        self._property: Token | None = None  # first token of the block line being read

    # -- moving -------------------------------------------------------------
    def next(self) -> bool:
        """Move to the next occurrence of the directive; False when there is none."""
        for s in self._starts:
            if s > self.cursor:
                self.cursor = s
                return True
        self.cursor = len(self.tokens)
        return False

    @property
    def token(self) -> Token:
        if 0 <= self.cursor < len(self.tokens):
            return self.tokens[self.cursor]
        return self.tokens[-1] if self.tokens else Token(self.name, "?", 0)

    @property
    def val(self) -> str:
        """Text of the current token."""
        return self.token.text

    def _same_line_next(self) -> Token | None:
        j = self.cursor + 1
        if j >= len(self.tokens) or j in self._starts:
            return None
        cur, nxt = self.tokens[self.cursor], self.tokens[j]
        if nxt.line != cur.last_line() or nxt.file != cur.file:
            return None
        if nxt.text == "{" and not nxt.quoted:
            return None
        return nxt

    def next_arg(self) -> bool:
        """Move to the next argument on the current line; False at the line's end or a ``{``."""
        if self._same_line_next() is None:
            return False
        self.cursor += 1
        return True

    def remaining_args(self) -> list[str]:
        """Every argument left on the current line."""
        out = []
        while self.next_arg():
            out.append(self.val)
        return out

    def args(self, low: int = 0, high: int | None | bool = False) -> list[str]:
        """Every argument left on the current line, checked to be ``low`` of them (or between ``low`` and
        ``high``; ``high`` None: ``low`` or more); else :meth:`arg_error`, CoreDNS's wording."""
        return self.expect_args(self.remaining_args(), low, high)

    def expect_args(self, args: list[str], low: int, high: int | None | bool = False) -> list[str]:
        """``args`` (read before), checked as :meth:`args` checks them."""
        top = low if high is False else high
        if len(args) < low or (top is not None and len(args) > top):
            raise self.arg_error()
        return args

    def arg(self) -> str:
        """The one argument left on the current line (:meth:`arg_error` if there are none or more)."""
        return self.args(1)[0]

    def path(self, text: str) -> str:
        """A file named by a directive: relative names are taken in the folder of the file the
        directive is written in (the Corefile, or the file it imported), not the working directory."""
        import os

        if os.path.isabs(text):
            return text
        return os.path.join(os.path.dirname(os.path.abspath(self.token.file)), text)

    def block(self) -> Iterator[Token]:
        """Each line of the ``{ }`` block that follows the current line; the cursor is on its first token.

        Lines (and nested blocks) the caller does not read to the end are skipped.
        """
        self.remaining_args()  # a block starts after the arguments
        j = self.cursor + 1
        if j >= len(self.tokens) or j in self._starts:
            return
        opener = self.tokens[j]
        if opener.text != "{" or opener.quoted:
            return
        self.cursor = j
        while True:
            j = self.cursor + 1
            if j >= len(self.tokens) or j in self._starts:
                raise self.error("unexpected end of the block: expected '}'")
            tok = self.tokens[j]
            if tok.text == "}" and not tok.quoted:
                self.cursor = j
                return
            self.cursor = j
            line_start = j
            self._property = tok
            yield tok
            self._skip_rest_of_line(line_start)

    def _skip_rest_of_line(self, line_start: int) -> None:
        """After a property line was read, put the cursor on its last token (or nested block's ``}``)."""
        first = self.tokens[line_start]
        if self.cursor < line_start:
            self.cursor = line_start
        last_line = first.last_line()
        while True:
            j = self.cursor + 1
            if j >= len(self.tokens) or j in self._starts:
                return
            tok = self.tokens[j]
            if tok.file != first.file or tok.line != last_line:
                if self.tokens[self.cursor].text == "{" and not self.tokens[self.cursor].quoted:
                    self._skip_nested()
                return
            self.cursor = j
            last_line = tok.last_line()

    def _skip_nested(self) -> None:
        depth = 1
        while depth:
            self.cursor += 1
            if self.cursor >= len(self.tokens):
                raise self.error("unexpected end of the block: expected '}'")
            tok = self.tokens[self.cursor]
            if not tok.quoted and tok.text == "}":
                depth -= 1
            elif not tok.quoted and tok.text == "{":
                depth += 1

    # -- errors -------------------------------------------------------------
    def error(self, message: str) -> CorefileError:
        """An error at the current token, naming the plugin."""
        tok = self.token
        return CorefileError(message, tok.file, tok.line, self.name)

    def arg_error(self) -> CorefileError:
        """Wrong number of arguments (CoreDNS's wording)."""
        return self.error(f"wrong argument count or unexpected line ending after '{self.val}'")

    def once_error(self) -> CorefileError:
        return self.error("this plugin can only be used once per server block")

    def unknown_property(self, expected: Iterable[str]) -> CorefileError:
        """The block line being read starts with a property this plugin does not know."""
        tok = self._property or self.token
        return CorefileError(f"unknown property '{tok.text}' (expected {', '.join(expected)})",
                             tok.file, tok.line, self.name)

    # -- values -------------------------------------------------------------
    def int_value(self, text: str | None = None, low: int | None = None, high: int | None = None,
                  what: str = "a number") -> int:
        """``text`` (default: the current token) as an integer within [low, high]."""
        text = self.val if text is None else text
        try:
            value = int(text, 10)
        except ValueError:
            raise self.error(f"'{text}' is not {what}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.error(f"{what} must be {bounds}, got {value}")
        return value

    def zones(self, texts: Iterable[str]) -> list[str]:
        """Zone names as the server uses them: lower case, dot-terminated; an error names the bad one."""
        import dns.name

        out = []
        for text in texts:
            try:
                out.append(dns.name.from_text(text).to_text().lower())
            except Exception as e:
                raise self.error(f"bad zone '{text}': {e}") from e
        return out

    def size_value(self, text: str | None = None, low: int = 0, high: int | None = None,
                   what: str = "size") -> int:
        """``text`` (default: the current token) as a number of bytes (``64K``, ``32M``, ``1G``)."""
        text = self.val if text is None else text
        try:
            value = parse_size(text)
        except ValueError as e:
            raise self.error(str(e)) from e
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high} bytes" if high is not None else f"at least {low} bytes"
            raise self.error(f"{what} must be {bounds}, got {text}")
        return value

    def duration_value(self, text: str | None = None, positive: bool = True) -> float:
        """``text`` (default: the current token) as a duration in seconds."""
        text = self.val if text is None else text
        try:
            value = parse_duration(text)
        except ValueError as e:
            raise self.error(str(e)) from e
        if positive and value <= 0:
            raise self.error(f"duration must be positive, got '{text}'")
        return value
