"""The module order of ``src/ragc`` (docs/architecture.md, "Module order").

Every import counts: top-level, inside functions (lazy imports), and under
``if TYPE_CHECKING`` (a type-only cycle is still a layering one). A module
may import only modules of its own layer or a lower one, and no set of
modules imports itself in a circle.
"""

from __future__ import annotations

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

PACKAGE_LAYERS = [
    ["ragc"],  # the package's __init__: the version and lazy names only
    ["ragc.kinds", "ragc.gc_pause", "ragc.sentinels",  # failure kinds; the parser's gc pause; NO_ANSWER
     "ragc.repl.policy"],  # the ReplPolicy limits (the checker validates `limits { }` of repl nodes)
    ["ragc.diagnostics"],
    ["ragc.syntax"],
    ["ragc.registry", "ragc.skills"],
    ["ragc.check"],
    ["ragc.ir"],
    ["ragc.events"],
    ["ragc.harness", "ragc.memory"],
    ["ragc.compiler"],
    # the .ragsh language and its capabilities, below the runtime so that `kind repl` nodes run cells
    ["ragc.repl.errors", "ragc.repl.interpreter", "ragc.repl.authoring", "ragc.repl.capabilities",
     "ragc.repl.codeact", "ragc.repl.cells"],
    ["ragc.runtime"],
    ["ragc.contrib"],
    ["ragc.observe"],
    ["ragc.api"],
    ["ragc.temporal"],  # the Temporal engine: drives ragc.runtime's core from a Temporal workflow
    ["ragc.author"],
    ["ragc.repl"],
    ["ragc.lsp"],
    ["ragc.serve"],
    ["ragc.cli"],
    ["ragc.__main__"],
]
"""Packages from the bottom up (docs/architecture.md draws the same order)."""

RUNTIME_LAYERS = [
    ["errors", "records", "reducers", "templates", "irdiff", "budget", "functions", "inputs"],
    ["expressions"],
    ["journal", "recorder", "replay"],
    ["compiled", "joins", "frames"],
    ["activation", "limits"],
    ["core"],
    ["nodes"],
    ["program", "fanout"],
    ["scheduler"],
    ["engine"],
]
"""Modules of ``ragc.runtime`` from the bottom up: values and records; the
journal; compiled structures and frames; what executors see; the pure
scheduling core; executors; linking and the fork driver; the local driver;
the engine."""


def _modules() -> dict[str, Path]:
    mods = {}
    for p in (SRC / "ragc").rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of ragc it imports`` (a ``from pkg import sub``
    of a submodule is an edge to the submodule, not to ``pkg``)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for m, p in mods.items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for n in ast.walk(tree):
            targets: list[str] = []
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    b = pkg.split(".")
                    b = b[: len(b) - (n.level - 1)]
                    base = ".".join(b + ([n.module] if n.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in n.names]
            for t in targets:
                if t == "ragc" or t.startswith("ragc."):
                    r = resolve(t)
                    if r and r != m:
                        edges[m].add(r)
    return edges


def _rank(module: str, layers: list[list[str]], prefix: str = "") -> int | None:
    best = None
    for i, layer in enumerate(layers):
        for name in layer:
            full = prefix + name
            if module == full or module.startswith(full + "."):
                if best is None or len(full) > best[1]:
                    best = (i, len(full))
    return best[0] if best else None


def test_every_module_has_a_layer():
    for m in _modules():
        assert _rank(m, PACKAGE_LAYERS) is not None, f"{m} is in no layer of PACKAGE_LAYERS"
        if m.startswith("ragc.runtime."):
            assert _rank(m, RUNTIME_LAYERS, "ragc.runtime.") is not None, f"{m} is in no layer of RUNTIME_LAYERS"


def test_no_package_imports_upward():
    bad = []
    for a, bs in import_graph().items():
        ra = _rank(a, PACKAGE_LAYERS)
        for b in bs:
            rb = _rank(b, PACKAGE_LAYERS)
            if a != "ragc" and b == "ragc":
                continue  # `from ragc import __version__`: the root is the bottom layer
            if rb is not None and ra is not None and rb > ra:
                bad.append(f"{a} -> {b}")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_no_runtime_module_imports_upward():
    bad = []
    for a, bs in import_graph().items():
        if not a.startswith("ragc.runtime."):
            continue
        ra = _rank(a, RUNTIME_LAYERS, "ragc.runtime.")
        for b in bs:
            if not b.startswith("ragc.runtime."):
                continue
            rb = _rank(b, RUNTIME_LAYERS, "ragc.runtime.")
            if rb is not None and ra is not None and rb > ra:
                bad.append(f"{a} -> {b}")
    assert not bad, "upward imports in ragc.runtime:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    # the standard library's topological sort names a cycle when there is one
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as e:
        raise AssertionError("import cycle: " + " -> ".join(e.args[1])) from None


def test_the_checker_finds_a_planted_cycle(tmp_path, monkeypatch):
    # the test above can fail: a planted pair of modules importing each other is found
    pkg = tmp_path / "ragc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from ragc import b\n")
    (pkg / "b.py").write_text("def f():\n    from ragc.a import x\n")
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    edges = import_graph()
    assert edges["ragc.a"] == {"ragc.b"} and edges["ragc.b"] == {"ragc.a"}
