"""Names <-> etcd keys: ``a.b.example.org.`` is stored at ``<prefix>/org/example/b/a``.

The prefix is always passed in: there is no global path (a reload may change it).

Names are in presentation form (``dns.name``'s text: lower case, ``\\DDD`` for a byte that is
not printable ASCII); a key's labels are text. A label's bytes are the UTF-8 of the key's
label, as SkyDNS made them (no IDNA): the key ``café`` is the name ``caf\\195\\169``. Bytes
that are not UTF-8, in a key or in a query, read as U+FFFD: never an error.
"""
from __future__ import annotations

import re

import dns.exception
import dns.name

#: A name (or label) that presentation form writes as it is: printable ASCII without escapes.
_PLAIN = re.compile(r'[\x21-\x7e]*\Z')
_SPECIAL = re.compile(r'[\\"();@$]')


def _plain(text: str) -> bool:
    return _PLAIN.match(text) is not None and _SPECIAL.search(text) is None


def label_bytes(label: str) -> bytes:
    """The DNS label of a key's label: its UTF-8."""
    return label.encode("utf-8", "replace")


def name_to_key(name: str, prefix: str) -> str:
    """The key of a (lower-case) name: ``web01.east.skydns.local.`` -> ``/skydns/local/skydns/east/web01``."""
    return prefix.rstrip("/") + "/" + "/".join(name_labels(name))


def key_labels(key: str, prefix: str) -> list[str] | None:
    """Labels of a key below ``prefix``, from the top of the tree down (``["local", "skydns", "east"]``).

    None when the key is outside the layout: not under the prefix, or with
    an empty path segment (``//``, a trailing ``/``).
    """
    base = prefix.rstrip("/") + "/"
    if not key.startswith(base):
        return None
    rest = key[len(base):]
    if not rest:
        return None
    labels = rest.lower().split("/")
    for label in labels:
        if not label or "." in label or len(label) > 63 or (not label.isascii() and len(label_bytes(label)) > 63):
            return None
    return labels


def labels_to_name(labels: list[str]) -> str:
    """The name of tree labels (top first): ``["local", "skydns", "east"]`` -> ``east.skydns.local.``."""
    if not labels:
        return "."
    text = ".".join(reversed(labels)) + "."
    if _plain(text):
        return text
    try:
        return dns.name.Name([label_bytes(label) for label in reversed(labels)] + [b""]).to_text().lower()
    except dns.exception.DNSException:  # too long as bytes: a name no query can ask for
        return text


def name_labels(name: str) -> list[str]:
    """Tree labels of a name, top first: ``east.skydns.local.`` -> ``["local", "skydns", "east"]``."""
    if "\\" in name:  # escaped bytes (or dots inside a label): read them
        try:
            raw = dns.name.from_text(name).labels
        except dns.exception.DNSException:
            raw = ()
        return [label.decode("utf-8", "replace").lower() for label in reversed(raw) if label]
    stripped = name.rstrip(".")
    if not stripped:
        return []
    return list(reversed(stripped.split(".")))
