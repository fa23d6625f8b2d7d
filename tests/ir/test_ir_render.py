"""Every workflow in ``workflows/`` renders with Graphviz, and the picture
carries what a reviewer needs (START/END, branch payloads, the join policy,
route labels, tools and models). Skipped when Graphviz's ``dot`` is absent
(``.ci/run`` installs it where it can)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragc.compiler import compile_file
from ragc.ir.export import to_dot
from ragc.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.rag"))
DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz `dot` is not installed")


@pytest.fixture(scope="module")
def repo_registry():
    load = load_registry(ROOT / "registry.toml", cwd=ROOT)
    assert load.ok, load.diagnostics
    return load.registry


@needs_dot
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_each_workflow_renders_to_svg_and_png(path, repo_registry, tmp_path):
    r = compile_file(path, repo_registry)
    assert r.program is not None, [(d.code, d.message) for d in r.diagnostics]
    dot = to_dot(r.program)
    for fmt in ("svg", "png"):
        out = tmp_path / f"{path.stem}.{fmt}"
        done = subprocess.run([DOT, f"-T{fmt}", "-o", str(out)], input=dot.encode(), capture_output=True,
                              check=False)
        assert done.returncode == 0 and not done.stderr, done.stderr.decode()
        data = out.read_bytes()
        assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data
    svg = (tmp_path / f"{path.stem}.svg").read_text()
    assert ">START</text>" in svg
    if any(n.routing.kind == "end" or "END" in n.routing.targets for n in r.program.entry_graph.nodes.values()):
        assert ">END</text>" in svg  # a node that ends the run points at END, not nowhere


@needs_dot
def test_the_quorum_picture_tells_the_reviewers_apart(repo_registry, tmp_path):
    r = compile_file(ROOT / "workflows" / "quorum_review.rag", repo_registry)
    svg = subprocess.run([DOT, "-Tsvg"], input=to_dot(r.program).encode(), capture_output=True,
                         check=True).stdout.decode()
    for focus in ("security", "performance", "style", "tests", "docs"):
        assert f"focus: &quot;{focus}&quot;" in svg
    assert "join quorum 3 of 5" in svg and "tolerate 1 · timeout 2m" in svg
    assert "model · fast" in svg


@needs_dot
def test_cli_writes_svg_and_png(tmp_path):
    wf = ROOT / "workflows" / "react_agent.rag"
    for fmt in ("svg", "png"):
        out = tmp_path / f"g.{fmt}"
        done = subprocess.run([sys.executable, "-m", "ragc", "graph", str(wf), "--format", fmt, "-o", str(out),
                               "--registry", str(ROOT / "registry.toml")], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert f"wrote {out}" in done.stderr
    assert "tools: list_files, search," in (tmp_path / "g.svg").read_text()


def test_cli_without_graphviz_is_a_usage_error(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "ragc", "graph", str(ROOT / "workflows" / "triage.rag"),
                           "--format", "svg", "--registry", str(ROOT / "registry.toml")], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 2 and "needs Graphviz's `dot` program" in done.stderr
    assert "Traceback" not in done.stderr
