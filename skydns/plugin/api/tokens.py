"""The records API's tokens: who may read, who may change which names, kept as hashes; guessing is slowed down.

A token has a name (what the history of names notes as the author of its writes,
``api:NAME``), read or write access, and the names it may change (every name of the
served zones when none is given: a name covers itself and everything below it).
Only the SHA-256 of each secret is kept, in memory and in the Corefile
(``sha256:HEX``, what ``skydns token NAME`` prints): the tokens are random, so a
hash is as good as the secret for checking and worthless for using. A client
address that gives wrong tokens ``FREE_FAILURES`` times is refused for a while
(429, with ``Retry-After``), twice as long with each further failure.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from skydns.query.zones import in_zones

ACCESS = ("read", "write")
#: Failed tokens a client address may give before it is slowed down.
FREE_FAILURES = 5
#: The longest a client address is refused after failing (seconds).
MAX_PENALTY = 300.0
#: Failures are forgotten after this long without one.
FORGET_AFTER = 600.0
PREFIX = "sha256:"


def digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def hashed(secret: str) -> str:
    """How a token is written in the Corefile: ``sha256:`` and the hex of its hash."""
    return PREFIX + digest(secret.encode()).hex()


def new_secret() -> str:
    """A fresh token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Token:
    name: str
    digest: bytes
    write: bool = True
    names: tuple[str, ...] = ()  # empty: every served name

    def may_change(self, name: str) -> bool:
        return self.write and (not self.names or in_zones(name, list(self.names)) is not None)

    def __repr__(self) -> str:  # never the hash either: a log line names the token, nothing more
        return f"Token({self.name}, {'write' if self.write else 'read'}, {list(self.names) or 'every name'})"


def parse_secret(text: str) -> bytes:
    """The hash of a token as the Corefile gives it: ``sha256:HEX``, or the secret itself (hashed at once)."""
    if text.startswith(PREFIX):
        raw = bytes.fromhex(text[len(PREFIX):])  # ValueError when it is not hex
        if len(raw) != 32:
            raise ValueError("a sha256: hash has 64 hex digits")
        return raw
    if len(text) < 8:
        raise ValueError("a token needs at least 8 characters")
    return digest(text.encode())


class Tokens:
    """Every token of one API, by the hash of its secret."""

    def __init__(self, tokens: list[Token]):
        self._by_digest = {t.digest: t for t in tokens}
        self.names = [t.name for t in tokens]

    def find(self, given: bytes) -> Token | None:
        """The token whose secret is ``given``, or None. A lookup of its hash: the time it takes says
        nothing about how close a guess was."""
        if not given:
            return None
        return self._by_digest.get(digest(given))


    def by_digest(self, hashed: bytes) -> Token | None:
        """The token of this hash (a console session keeps the hash, not the token)."""
        return self._by_digest.get(hashed)


class Throttle:
    """Failed attempts per client address, and how long each must wait (bounded: oldest forgotten)."""

    MAX_ADDRESSES = 10_000

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._failures: dict[str, list[float]] = {}  # host -> [count, last failure, refused until]

    def wait(self, host: str) -> float:
        """Seconds ``host`` must still wait before it may try a token again (0: it may)."""
        entry = self._failures.get(host)
        if entry is None:
            return 0.0
        now = self.clock()
        if now - entry[1] > FORGET_AFTER:
            del self._failures[host]
            return 0.0
        return max(0.0, entry[2] - now)

    def failed(self, host: str) -> float:
        """Count a wrong token from ``host``; the seconds it is now refused for."""
        now = self.clock()
        entry = self._failures.get(host)
        if entry is None:
            if len(self._failures) >= self.MAX_ADDRESSES:
                for old in list(self._failures)[:self.MAX_ADDRESSES // 2]:
                    del self._failures[old]
            entry = self._failures[host] = [0, now, now]
        entry[0] += 1
        entry[1] = now
        over = int(entry[0]) - FREE_FAILURES
        penalty = min(MAX_PENALTY, 2.0 ** (over - 1)) if over > 0 else 0.0
        entry[2] = now + penalty
        return penalty

    def succeeded(self, host: str) -> None:
        self._failures.pop(host, None)
