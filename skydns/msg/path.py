"""Names <-> etcd keys: ``a.b.example.org.`` is stored at ``<prefix>/org/example/b/a``.

The prefix is always passed in: there is no global path (a reload may change it).
"""
from __future__ import annotations


def name_to_key(name: str, prefix: str) -> str:
    """The key of a (lower-case) name: ``web01.east.skydns.local.`` -> ``/skydns/local/skydns/east/web01``."""
    labels = [label for label in name.rstrip(".").split(".") if label]
    return prefix.rstrip("/") + "/" + "/".join(reversed(labels))


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
        if not label or len(label) > 63 or "." in label:
            return None
    return labels


def labels_to_name(labels: list[str]) -> str:
    """The name of tree labels (top first): ``["local", "skydns", "east"]`` -> ``east.skydns.local.``."""
    return ".".join(reversed(labels)) + "." if labels else "."


def name_labels(name: str) -> list[str]:
    """Tree labels of a name, top first: ``east.skydns.local.`` -> ``["local", "skydns", "east"]``."""
    stripped = name.rstrip(".")
    if not stripped:
        return []
    return list(reversed(stripped.split(".")))
