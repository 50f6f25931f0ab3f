"""Sharing work among peers that know each other's names (rendezvous hashing).

Each item goes to the member with the highest score for it; when a member comes or goes,
only the items it gained or lost move. The scanner shares addresses this way, kubewatch
Kubernetes services.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable


def score(member: str, item: str) -> int:
    return int.from_bytes(hashlib.sha1(f"{member}|{item}".encode()).digest()[:8], "big")


def owner(members: Iterable[str], item: str) -> str:
    """The member ``item`` belongs to."""
    return max(members, key=lambda m: score(m, item))
