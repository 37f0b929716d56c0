"""The house in one direction (docs/architecture.md), checked on every run:

* the layer contracts of ``pyproject.toml`` ([tool.importlinter]) hold — a lower layer never imports a higher one,
  entry points (routes, command lines, pages, demo) are imported only by entry points, no cycle inside a domain;
* no import cycle between any two modules of the whole package (import-linter checks siblings; this checks all);
* no private name (``_x``) of one module is imported or used by another;
* no ``except ImportError`` probe: a missing module fails at start-up, loudly;
* no module over :data:`LONG` lines without a reason in its docstring.

Each check also runs on a small planted sample, so a guard that silently stopped seeing is caught too.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LONG = 550  # "no module over ~500 lines without a reason": the reason is a docstring paragraph starting "Long:"


def _modules(root: Path = SRC) -> dict[str, Path]:
    mods = {}
    for path in sorted((root / "onshi").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def test_the_layer_contracts_hold():
    """``lint-imports`` over the contracts in pyproject.toml (the same command a developer runs)."""
    exe = Path(sys.executable).with_name("lint-imports")
    exe = exe if exe.exists() else shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency: scripts/setup test installs it"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in r.stdout, r.stdout[-3000:]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle_between_any_two_modules():
    sys.path.insert(0, str(SRC))
    try:
        graph = grimp.build_graph("onshi", cache_dir=None)
    finally:
        sys.path.remove(str(SRC))
    cycles = _cycles(graph)
    # a package importing its own submodules (re-exports) is not a cycle of the code's meaning
    cycles = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert cycles == [], "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_the_cycle_finder_sees_a_cycle():
    graph = grimp.ImportGraph()
    for m in ("p.a", "p.b", "p.c"):
        graph.add_module(m)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    assert _cycles(graph) == []
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def _private_uses(path: Path, module: str, modules: dict[str, Path]) -> list[str]:
    """``file:line name`` for each private name of another onshi module this file imports or reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    aliases: dict[str, str] = {}  # local name → onshi module it stands for
    hits = []

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("onshi"):
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("onshi"):
                continue
            for a in node.names:
                full = f"{base}.{a.name}"
                if full in modules:
                    aliases[a.asname or a.name] = full
                elif private(a.name) and base != module:
                    hits.append(f"{path.relative_to(path.parents[len(module.split('.'))])}:{node.lineno} "
                                f"from {base} import {a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            target = node.value
            dotted = []
            while isinstance(target, ast.Attribute):
                dotted.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name) and target.id in aliases:
                owner = ".".join([aliases[target.id], *reversed(dotted)])
                if owner in modules and owner != module:
                    hits.append(f"{path.name}:{node.lineno} {owner}.{node.attr}")
    return hits


def test_no_private_name_crosses_a_module():
    modules = _modules()
    hits = [hit for name, path in modules.items() for hit in _private_uses(path, name, modules)]
    assert hits == [], "make the name public (and document it) or move the code:\n" + "\n".join(hits)


def test_the_private_name_guard_sees_each_spelling(tmp_path):
    pkg = tmp_path / "onshi" / "x"
    pkg.mkdir(parents=True)
    (tmp_path / "onshi" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("_secret = 1\n__version__ = '1'\n")
    (pkg / "b.py").write_text("from onshi.x.a import _secret, __version__\nfrom onshi.x import a\n"
                              "import onshi.x.a as aa\nimport onshi\n"
                              "v = a._secret + aa._secret + onshi.x.a._secret + a.__version__\n")
    modules = _modules(tmp_path)
    hits = _private_uses(pkg / "b.py", "onshi.x.b", modules)
    assert len(hits) == 4 and all("_secret" in h for h in hits), hits
    assert _private_uses(pkg / "a.py", "onshi.x.a", modules) == []


def _import_probes(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if any(getattr(n, "id", None) in ("ImportError", "ModuleNotFoundError") for n in names):
                lines.append(node.lineno)
    return lines


def test_no_import_error_probes():
    """Every part of onshi is installed with it: a module that does not import is a bug to see at start-up."""
    hits = [f"{path.relative_to(ROOT)}:{line}" for path in _modules().values() for line in _import_probes(path)]
    assert hits == [], "\n".join(hits)


def test_the_probe_guard_sees_a_probe(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("try:\n    import x\nexcept (ModuleNotFoundError, KeyError):\n    x = None\n"
                      "try:\n    import y\nexcept ImportError:\n    y = None\n")
    assert _import_probes(sample) == [3, 7]


@pytest.mark.parametrize("name", sorted(_modules()))
def test_a_long_module_says_why(name):
    path = _modules()[name]
    text = path.read_text(encoding="utf-8")
    if text.count("\n") <= LONG:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "\nLong: " in f"\n{doc}", (f"{path.relative_to(ROOT)} has {text.count(chr(10))} lines: cut it along its "
                                      "seams, or say why it is one module in a docstring paragraph starting 'Long: '")
