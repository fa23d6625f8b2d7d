"""Mermaid and DOT export: snapshots of the seed, the shared examples and a
graph with every construct (static fork and join, join node, router
conditions, subgraph cluster, detached node, `for` fan-out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragc.compiler import compile_source
from ragc.ir.export import abbreviate, expr_text, join_label, to_dot, to_mermaid

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "fixtures" / "seed_research_review.rag"
SHARED = ROOT / "tests" / "check" / "examples"  # copies of /work/shared/examples
FILES = [SEED] + (sorted(SHARED.glob("*.rag")) if SHARED.is_dir() else [])

EVERYTHING = """
graph main {
  input { topic: string  files: list[string] }
  start a
  channel notes append
  channel summaries append
  node a { kind subgraph  graph "child"  input { topic: input.topic }  output notes  next [b, c] }
  node b { kind model  output notes }
  node c { kind model  output notes  optional true }
  join [b, c] -> d { policy quorum 1  tolerate 1  timeout 90s }
  node d {
    kind router
    routes {
      many -> k when len(state.notes) > 2 and input.topic != "a very long topic that gets cut"
      few -> fan
    }
  }
  node fan {
    kind model
    send [ summarizer { path: item } for item in input.files ]
    max_concurrency 3
    join k
  }
  node k { kind model  next [f, g] }
  node f { kind tool  tool "search"  args { query: "x" }  next j }
  node g { kind model }
  node j { kind join  sources [f, g]  output notes  routes { ok -> log  error -> END } }
  node log { kind model  output notes  blocking false  next END }
}
graph child {
  input { topic: string }
  start h
  node h { kind model  prompt "{{ input.topic }}" }
}
"""


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_mermaid_and_dot_of_examples(path, test_registry, snapshot):
    r = compile_source(path.read_text(), path.name, test_registry)
    assert r.program is not None
    assert to_mermaid(r.program) == snapshot(name="mermaid")
    assert to_dot(r.program) == snapshot(name="dot")


def test_every_construct(test_registry, snapshot):
    r = compile_source(EVERYTHING, "everything.rag", test_registry)
    assert r.diagnostics == [], [(d.code, d.message) for d in r.diagnostics]
    mermaid = to_mermaid(r.program)
    dot = to_dot(r.program)
    assert mermaid == snapshot(name="mermaid")
    assert dot == snapshot(name="dot")
    # the facts the picture must show
    assert 'j_join_b_c__d[/"join quorum 1 of 2<br/>tolerate 1 · timeout 90s"\\]' in mermaid
    assert 'x_start(["START"])' in mermaid and "n_log --> x_end" in mermaid  # START and END drawn
    assert 'n_j[/"j<br/>join all"\\]' in mermaid  # a join node shows its policy
    assert '-.->|"send for item in input.files"|' in mermaid
    assert 'subgraph c_child__["subgraph child"]' in mermaid and '-.->|"runs"| x_child__start' in mermaid
    assert "class n_log detached" in mermaid
    assert '-->|"many: len(state.notes) #gt; 2 and in…"|' in mermaid
    assert "subgraph cluster_c_child__ {" in dot and 'style="dashed"' in dot


def test_other_graph_and_unknown_graph(test_registry):
    r = compile_source(EVERYTHING, "everything.rag", test_registry)
    assert to_mermaid(r.program, "child").splitlines()[1].startswith("  %% graph child")
    with pytest.raises(KeyError):
        to_dot(r.program, "nope")


def test_names_that_are_keywords_are_safe(test_registry):
    text = "graph g {\n  start end\n  node end { kind model  next graph }\n  node graph { kind model }\n}\n"
    r = compile_source(text, "k.rag", test_registry)
    m = to_mermaid(r.program)
    assert "n_end --> n_graph" in m and "\n  end" not in m


def test_helpers():
    assert abbreviate("x" * 40, 10) == "x" * 9 + "…"
    assert abbreviate("short") == "short"
    from ragc.ir.model import JoinIR, LitExpr, PathExpr

    assert expr_text(PathExpr(root="state", segments=["a", 0])) == "state.a[0]"
    assert expr_text(LitExpr(value=None)) == "null"
    assert join_label(JoinIR(id="x", fork="f", target="t", policy="any", timeout_s=3600)) == "join any · timeout 1h"
    assert join_label(JoinIR(id="x", fork="f", target="t", policy="quorum", quorum=3), 5) == "join quorum 3 of 5"


def test_subagents_show_their_registry_model_and_tools(test_registry):
    r = compile_source(EVERYTHING, "everything.rag", test_registry)
    m = to_mermaid(r.program, agents={"summarizer": ("fast", ["read_file", "search"])})
    assert 'a_fan_0[["summarizer<br/>subagent (branch)<br/>path: item<br/>model fast · tools: read_file,<br/>search' in m
    assert "model fast" not in to_mermaid(r.program)  # without the registry: only what the file says


def test_branches_are_told_apart_by_what_differs_in_their_payloads(test_registry):
    text = (ROOT / "workflows" / "quorum_review.rag").read_text()
    r = compile_source(text, "q.rag", test_registry)
    dot = to_dot(r.program)
    for focus in ("security", "performance", "style", "tests", "docs"):
        assert f'focus: \\"{focus}\\"' in dot
    assert "diff: input.diff" not in dot  # the same in every branch: not what tells them apart
    assert 'label="join quorum 3 of 5\\ntolerate 1 · timeout 2m"' in dot
    assert "n_decide -> x_end" in dot  # `next END` reaches END
