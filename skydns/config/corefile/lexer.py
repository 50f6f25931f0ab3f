"""Split Corefile text into tokens that remember their file and line.

Tokens are separated by white space. Quotes (``"..."`` with ``\\"`` escapes,
or backticks for raw text) make one token of text with spaces or newlines.
``#`` at the start of a token comments out the rest of the line. Braces are
ordinary tokens: the parser gives ``{`` and ``}`` their meaning. Unterminated
quotes are errors that name where the quote started.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from skydns.config.errors import CorefileError

_ENV = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}|\{%([A-Za-z_][A-Za-z0-9_]*)%\}")


@dataclass(frozen=True)
class Token:
    """One word of a Corefile and where it was written."""

    text: str
    file: str
    line: int
    quoted: bool = False
    #: How many imports deep this token was expanded (guards against import loops).
    depth: int = 0
    #: Line of the token's end: differs from ``line`` for quoted text spanning lines.
    end_line: int = 0

    def last_line(self) -> int:
        return self.end_line or self.line


def substitute_env(text: str, environ=os.environ) -> str:
    """Replace ``{$NAME}`` (``{$NAME:default}``) and ``{%NAME%}`` with environment values."""
    if "{" not in text:
        return text

    def value(m):
        name = m.group(1) or m.group(3)
        default = m.group(2)
        got = environ.get(name)
        if got is None:
            return default if default is not None else ""
        return got

    return _ENV.sub(value, text)


def tokenize(text: str, file: str, depth: int = 0, environ=os.environ) -> list[Token]:
    """Tokens of ``text``; environment placeholders are substituted in every token."""
    tokens: list[Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        start_line = line
        if c == '"' or c == "`":
            quote = c
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise CorefileError(f"unterminated quoted string (opened with {quote})",
                                        file, start_line)
                ch = text[i]
                if quote == '"' and ch == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    buf.append(text[i + 1])
                    i += 2
                    continue
                if ch == quote:
                    i += 1
                    break
                if ch == "\n":
                    line += 1
                buf.append(ch)
                i += 1
            tokens.append(Token(substitute_env("".join(buf), environ), file, start_line,
                                True, depth, line))
            continue
        j = i
        while j < n and text[j] not in " \t\r\n\f\v":
            j += 1
        tokens.append(Token(substitute_env(text[i:j], environ), file, line, False, depth, line))
        i = j
    return tokens
