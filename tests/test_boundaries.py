"""The plugin boundary, enforced: plugins meet only through the core's public API.

* No module outside ``skydns/plugin/<name>/`` imports from it (the registry
  names built-ins by string, in ``skydns/directives.py``; the example
  third-party distributions in ``plugins/`` import no built-in at all).
* No code finds a plugin by its name: no comparison with, membership test
  of, or subscript by a directive's name (``h.name == "etcd"``,
  ``"etcd" in block.plugins``, ``handlers["cache"]``). Capabilities are found
  through the interfaces they provide (``block.find(IRecordSource)``).

(Tests of a plugin may look inside it; this file checks the product.)
"""
from __future__ import annotations

import ast
import os
import pathlib

import pytest

from skydns.config import directives

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Directive names; left out, being words of other things too: "tcp" and "tls" (transports' names,
#: "udp"/"tcp", "dns"/"tls"/"https", and "tls" a property of etcd, forward and api), "reload" (a property of
#: loadbalance's weighted, as in CoreDNS) and "update" (the Kubernetes fork's JSON body {"update": ...}).
NAMES = set(directives.ORDER) - {"tcp", "tls", "reload", "update"}


def product_files() -> list[pathlib.Path]:
    files = sorted((ROOT / "skydns").rglob("*.py"))
    for dist in sorted((ROOT / "plugins").iterdir()):
        files += sorted(p for p in dist.rglob("*.py")
                        if not {"tests", "build"} & set(p.relative_to(dist).parts))
    return files


def owner(path: pathlib.Path) -> str | None:
    """The built-in plugin a file belongs to, or None for the core and third-party code."""
    parts = path.relative_to(ROOT).parts
    if parts[:2] == ("skydns", "plugin") and len(parts) > 3:
        return parts[2]
    return None


def imported_plugins(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, plugin) for every import of skydns.plugin.<plugin>[...] in a module."""
    found = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "skydns.plugin":
                modules = [f"skydns.plugin.{a.name}" for a in node.names]
        for m in modules:
            parts = m.split(".")
            if parts[:2] == ["skydns", "plugin"] and len(parts) > 2:
                found.append((node.lineno, parts[2]))
    return found


def lookups_by_name(tree: ast.AST, own: str | None) -> list[tuple[int, str]]:
    """(line, code) where a directive's name (other than the module's own plugin's) is compared,
    tested for membership or used as a subscript."""
    def is_name(node) -> bool:
        return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES \
            and node.value != own

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left] + node.comparators
            if any(is_name(o) for o in operands):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Subscript) and is_name(node.slice):
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and \
                any(is_name(a) for a in node.args[1:]):
            found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_plugin(path):
    """Only a plugin's own modules import from it."""
    tree = ast.parse(path.read_text(), str(path))
    own = owner(path)
    bad = [f"{path.relative_to(ROOT)}:{line} imports plugin '{p}'" for line, p in imported_plugins(tree) if p != own]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_finds_a_plugin_by_name(path):
    """Capabilities are found through interfaces, never by a plugin's name."""
    tree = ast.parse(path.read_text(), str(path))
    bad = [f"{path.relative_to(ROOT)}:{line}: {code}" for line, code in lookups_by_name(tree, owner(path))]
    assert not bad, "\n".join(bad)


def test_the_checks_catch_what_they_forbid():
    """The two checks fail on the patterns they are there to forbid (so they cannot pass by accident)."""
    bad = ast.parse(
        "from skydns.plugin.etcd.lookup import in_zones\n"
        "import skydns.plugin.cache.item\n"
        "from skydns.plugin import dnssec\n"
        "if h.name == 'etcd': pass\n"
        "if 'etcd' not in block.plugins: pass\n"
        "x = block.handlers['cache']\n"
        "y = getattr(head, 'cache', None)\n")
    assert [p for _, p in imported_plugins(bad)] == ["etcd", "cache", "dnssec"]
    assert len(lookups_by_name(bad, own=None)) == 4
    assert lookups_by_name(ast.parse("if self.name == 'cache': pass\n"), own="cache") == []


def test_core_lists_the_layout_it_checks():
    """Every built-in in the registry's table has its package where the checks look for it."""
    for name, target in directives.BUILTIN.items():
        module = target.partition(":")[0]
        assert module == f"skydns.plugin.{name}", target
        assert os.path.isdir(ROOT / "skydns" / "plugin" / name)


def test_tests_share_through_helpers_only():
    """No test module imports another test module or conftest: what tests share lives in tests/helpers/."""
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "conftest" or top.startswith("test_"):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not bad, "\n".join(bad)


def public_modules() -> set[str]:
    """The modules docs/plugins.md lists under "Public modules"."""
    import re

    text = (ROOT / "docs" / "plugins.md").read_text()
    section = text.split("## Public modules", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(skydns[a-z_.]*)` \|", section, re.M))


def imported_core(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import of skydns's core (not skydns.plugin) in a module; ``from P import x``
    counts as P.x when P.x is a module of skydns, else as P."""
    import importlib.util

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("skydns")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                (node.module == "skydns" or node.module.startswith("skydns.")):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = node.module != "skydns" or a.name != "__version__"
                try:
                    is_module = is_module and importlib.util.find_spec(sub) is not None
                except ModuleNotFoundError:
                    is_module = False
                found.append((node.lineno, sub if is_module else node.module))
    return [(line, m) for line, m in found if not m.startswith("skydns.plugin.")]


def plugin_files() -> list[pathlib.Path]:
    """The built-ins' modules and the example distributions' (not their tests)."""
    files = sorted((ROOT / "skydns" / "plugin").rglob("*.py"))
    for dist in sorted((ROOT / "plugins").iterdir()):
        files += sorted(p for p in dist.rglob("*.py") if not {"tests", "build"} & set(p.relative_to(dist).parts))
    return files


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_public_modules(path):
    """Built-ins and the example distributions import nothing of the core that docs/plugins.md does not list."""
    public = public_modules()
    bad = [f"{path.relative_to(ROOT)}:{line} imports {m}" for line, m in imported_core(ast.parse(path.read_text()))
           if m not in public]
    assert not bad, "\n".join(bad) + "\n(list it in docs/plugins.md's Public modules, or use what is listed)"


def test_the_public_list_is_read_and_enforced():
    """The list is found in docs/plugins.md, names real modules, and the check catches an import outside it."""
    import importlib

    public = public_modules()
    assert {"skydns.interfaces", "skydns.query.request", "skydns.testing"} <= public and len(public) > 20
    for name in public - {"skydns"}:
        importlib.import_module(name)
    tree = ast.parse("from skydns.query import server\nfrom skydns.query.request import Request\n"
                     "import skydns.listen.service\nfrom skydns import __version__\n")
    assert [m for _, m in imported_core(tree) if m not in public] == ["skydns.query.server",
                                                                       "skydns.listen.service"]


def test_every_public_module_imports_first():
    """A plugin's first import of skydns may be any public module: none of them depends on another having
    been imported before (skydns.query.chain did: it imported config, which imported it back)."""
    import subprocess
    import sys

    modules = sorted(public_modules()) + ["skydns.plugin.forward", "skydns.plugin.cache", "skydns.plugin.etcd"]
    script = ("import importlib, sys\n"
              f"for m in {modules!r}:\n"
              "    for k in [k for k in sys.modules if k == 'skydns' or k.startswith('skydns.')]:\n"
              "        del sys.modules[k]\n"
              "    try:\n"
              "        importlib.import_module(m)\n"
              "    except Exception as e:\n"
              "        print(m, type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/", timeout=120)
    assert out.stdout == "" and out.returncode == 0, out.stdout + out.stderr
