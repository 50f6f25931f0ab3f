"""The rules of ``rewrite name``: which names they match, what they become, and how answers come back.

A rule is CoreDNS's ``name [exact|prefix|suffix|substring|regex] FROM TO [answer auto | answer name FROM
TO]``. Names are compared in lower case with the trailing dot; a regex's ``{1}``... are its groups.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import dns.name

MATCHES = ("exact", "prefix", "suffix", "substring", "regex")
#: CoreDNS's limit on a regex pattern.
MAX_PATTERN = 10000
_GROUP = re.compile(r"\{(\d+)\}")


class RuleError(ValueError):
    """A rule that cannot be used; the message says why."""


def _absolute(text: str) -> str:
    return text.lower() if text.endswith(".") else text.lower() + "."


def _template(template: str, m: re.Match) -> str:
    return _GROUP.sub(lambda g: m.group(int(g.group(1))) or "", template)


def _compile(pattern: str) -> re.Pattern:
    if len(pattern) > MAX_PATTERN:
        raise RuleError(f"a regex is at most {MAX_PATTERN} characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise RuleError(f"bad regex '{pattern}': {e}") from e


@dataclass
class Rule:
    """One ``name`` rule. ``stop``: no rule after it applies once it matched (CoreDNS's default)."""

    match: str
    source: str
    target: str
    stop: bool = True
    answer: str = ""  # "", "auto" or "name"
    answer_from: str = ""
    answer_to: str = ""
    _regex: re.Pattern | None = field(default=None, repr=False)
    _answer_regex: re.Pattern | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.match not in MATCHES:
            raise RuleError(f"unknown match type '{self.match}' (expected {', '.join(MATCHES)})")
        if self.match == "regex":
            self._regex = _compile(self.source)
        elif self.match in ("exact", "suffix"):
            self.source, self.target = _absolute(self.source), _absolute(self.target)
        else:
            self.source, self.target = self.source.lower(), self.target.lower()
        if self.answer == "name":
            self._answer_regex = _compile(self.answer_from)

    def apply(self, name: str) -> str | None:
        """The name ``name`` becomes, or None when the rule does not match it."""
        if self.match == "exact":
            return self.target if name == self.source else None
        if self.match == "suffix":
            return name[: -len(self.source)] + self.target if name.endswith(self.source) else None
        if self.match == "prefix":
            return self.target + name[len(self.source):] if name.startswith(self.source) else None
        if self.match == "substring":
            return name.replace(self.source, self.target, 1) if self.source in name else None
        assert self._regex is not None
        m = self._regex.fullmatch(name.rstrip(".")) or self._regex.fullmatch(name)
        return _absolute(_template(self.target, m)) if m else None

    @property
    def owners(self) -> bool:
        """Do records of the rewritten name come back owned by the client's name? Always for ``exact``
        (CoreDNS's rule), and with ``answer auto``."""
        return self.match == "exact" or self.answer == "auto"

    def answer_owner(self, owner: str) -> str | None:
        """What another owner name of the answer becomes (``answer auto``'s reverse suffix, ``answer
        name``'s regex), or None."""
        if self.answer == "name":
            assert self._answer_regex is not None
            m = self._answer_regex.fullmatch(owner.rstrip(".")) or self._answer_regex.fullmatch(owner)
            return _absolute(_template(self.answer_to, m)) if m else None
        if self.answer == "auto" and self.match == "suffix" and owner.endswith(self.target):
            return owner[: -len(self.target)] + self.source
        return None


def rewrite(rules: list[Rule], name: str) -> tuple[str, list[Rule]] | None:
    """``(new name, the rules that matched)`` for ``name``, or None when no rule matches. A rule that
    matches and says ``stop`` ends the list; ``continue`` applies the next ones to the result."""
    used = []
    for rule in rules:
        new = rule.apply(name)
        if new is None:
            continue
        try:
            dns.name.from_text(new)
        except Exception as e:
            raise RuleError(f"rewriting {name} makes '{new}', not a name: {e}") from e
        name = new
        used.append(rule)
        if rule.stop:
            break
    return (name, used) if used else None
