"""Escape attempts from a `.ragsh` script are refused with a clear error:
no file, network, environment, process or import access, no reflection
through dunder attributes, no `load`, no way around the approval gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ragc.repl import ReplSession

RAGC = Path(sys.executable).with_name("ragc")

ESCAPES = [
    ('open("secret.txt").read()', "variable `open` not found"),
    ('import os', "cannot use reserved keyword `import`"),
    ('from os import system', "cannot use reserved keyword `from`"),
    ('__import__("os")', "variable `__import__` not found"),
    ('exec("1")', "variable `exec` not found"),
    ('eval("1")', "variable `eval` not found"),
    ('os.environ["HOME"]', "variable `os` not found"),
    ('urllib.request.urlopen("http://127.0.0.1")', "variable `urllib` not found"),
    ('socket.socket()', "variable `socket` not found"),
    ('subprocess.run(["id"])', "variable `subprocess` not found"),
    ('"".__class__', "has no attribute `__class__`"),
    ('getattr([], "__class__")', "`.__class__` not supported on type `list`"),
    ('model_query.__globals__', "has no attribute `__globals__`"),
    ('load("registry.toml", "x")', "`load` is not available"),
    ('while True:\n    pass', "cannot use reserved keyword `while`"),
    ('tool_call("read_file", {"path": "../secret.txt"})', "outside the workspace"),
    ('tool_call("read_file", {"path": "/etc/passwd"})', "outside the workspace"),
]


@pytest.mark.parametrize("cell, message", ESCAPES, ids=[c for c, _ in ESCAPES])
def test_escape_is_refused(registry, cell: str, message: str) -> None:
    with ReplSession(registry) as s:
        r = s.run_cell(cell)
    assert r.error is not None, f"{cell!r} was not refused"
    text = r.error.render()
    assert message in r.error.message, text
    assert "Traceback" not in text and r.error.line is not None


def test_a_builtin_object_gives_nothing_back(registry) -> None:
    with ReplSession(registry) as s:
        r = s.run_cell("dir(model_query)")
    assert r.ok and not any(name.startswith("_") for name in r.value)


def test_generated_graph_runs_only_after_approval(registry, project: Path) -> None:
    graph = (project / "greet.rag").read_text(encoding="utf-8").replace("graph greet", "graph gen")
    with ReplSession(registry, root=project) as s:
        s.interpreter.namespace["source"] = graph
        assert s.run_cell('d = graph_define("gen", source)\nd["ok"]').value is True
        r = s.run_cell('graph_run("gen", {"name": "Ann"})')
        assert r.error is not None and r.error.kind == "refused"
        assert "not approved" in r.error.message and "ragc approve .ragc/generated/gen.rag" in r.error.hint

        # a human reviews the file and approves it with the ordinary command
        out = subprocess.run([str(RAGC), "approve", ".ragc/generated/gen.rag"], cwd=project, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        r = s.run_cell('graph_run("gen", {"name": "Ann"})["output"]["greeting"]')
        assert r.ok and r.value == "hello Ann"

        # redefining it (any edit) revokes the approval
        s.interpreter.namespace["source"] = graph.replace("greet {{", "greet  {{")
        assert s.run_cell('graph_define("gen", source)').ok
        r = s.run_cell('graph_run("gen", {"name": "Ann"})')
        assert r.error is not None and "not approved" in r.error.message


def test_generated_graph_is_checked_against_the_untrusted_policy(project: Path) -> None:
    from ragc.registry.loader import load_registry

    text = (project / "registry.toml").read_text(encoding="utf-8")
    (project / "registry.toml").write_text(text + '\n[policies.untrusted]\nallow_models = []\n', encoding="utf-8")
    registry = load_registry(project / "registry.toml", cwd=project).registry
    graph = (project / "greet.rag").read_text(encoding="utf-8").replace("graph greet", "graph gen")
    with ReplSession(registry, root=project) as s:
        s.interpreter.namespace["source"] = graph
        r = s.run_cell('graph_define("gen", source)')
        assert r.ok
        r = s.run_cell('v = graph_validate("gen")\n[d["code"] for d in v["diagnostics"]]')
        assert r.value and all(code.startswith("E06") for code in r.value)  # policy diagnostics
        r = s.run_cell('graph_validate("greet")["ok"]')
        assert r.value is True  # the registry's own graph is trusted
