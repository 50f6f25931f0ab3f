"""Every registered plugin beside every other: the Corefile of a combination of directives.

Each setup may declare ``example``: its directive in a minimal working configuration,
with ``${placeholders}`` for what a test provides (a zone, an upstream, a port, files).
:func:`corefile` writes one server block holding the examples of some directives plus a
base (etcd, and what every block of the test needs); a directive an example brings along
(update's tsig) is written once. :func:`pairs` lists every pair of registered directives,
so a plugin joins the combination test by being registered::

    fills = {"zone": "skydns.local.", "upstream": "127.0.0.1:5300", ...}
    for a, b in combinations.pairs(Registry(), base=("etcd",)):
        text = combinations.corefile("skydns.local:1053", (a, b), Registry(), fills)
"""
from __future__ import annotations

import itertools
from string import Template

#: What examples may ask for.
PLACEHOLDERS = ("zone", "zones", "upstream", "http_port", "api_token", "tls_cert", "tls_key", "dnssec_key",
                "tsig_key", "tsig_secret", "etcd_path", "etcd_endpoint")


def example(registry, name: str) -> str:
    """The directive's example (its bare name when its setup declares none)."""
    return getattr(registry.setup(name), "example", None) or name


def directives(snippet: str) -> list[tuple[str, str]]:
    """``(directive, text)`` for each top-level directive of Corefile lines (a block belongs to its line)."""
    out: list[tuple[str, list[str]]] = []
    depth = 0
    for line in snippet.splitlines():
        if not line.strip():
            continue
        if depth == 0:
            out.append((line.split()[0], [line]))
        else:
            out[-1][1].append(line)
        depth += line.count("{") - line.count("}")
    return [(name, "\n".join(lines)) for name, lines in out]


def corefile(keys: str, names, registry, fills: dict, base=("etcd",)) -> str:
    """One server block on ``keys`` with the examples of ``names`` and of ``base``, each directive once."""
    seen: dict[str, str] = {}
    for name in (*names, *base):
        for directive, text in directives(Template(example(registry, name)).substitute(fills)):
            seen.setdefault(directive, text)
    body = "\n".join("    " + line for text in seen.values() for line in text.splitlines())
    return f"{keys} {{\n{body}\n}}\n"


def pairs(registry, base=("etcd",)) -> list[tuple[str, str]]:
    """Every pair of registered directives outside ``base`` (which every combination holds anyway)."""
    names = sorted(n for n in registry.names() if n not in base)
    return list(itertools.combinations(names, 2))
