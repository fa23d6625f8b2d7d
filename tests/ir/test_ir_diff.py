"""The capability diff of two programs (``ragc diff``)."""

from __future__ import annotations

from pathlib import Path

from ragc.compiler import compile_source
from ragc.ir.diff import diff_programs, render_diff_text

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "tests" / "fixtures" / "seed_research_review.rag").read_text()


def program(text, registry):
    r = compile_source(text, "x.rag", registry)
    assert r.program is not None, [(d.code, d.message) for d in r.diagnostics]
    return r.program


def test_no_changes(test_registry):
    p = program(SEED, test_registry)
    d = diff_programs(p, p, old_file="a.rag", new_file="b.rag")
    assert d["changed"] is False and d["nodes"] == {"added": [], "removed": [], "changed": []}
    assert render_diff_text(d).endswith("no changes\n")


def test_nodes_edges_capabilities_budgets_permissions(test_registry):
    old = program(SEED, test_registry)
    new_text = (SEED.replace('tools ["search", "read_repo"]', 'tools ["search"]\nallow tools ["search"]')
                .replace("next END", "next save")
                .replace("graph research_review {", "graph research_review {\nbudget { max_model_calls 10 }")
                .rstrip().rstrip("}")
                + 'node save {\nkind tool\ntool "write_file"\nargs { path: "r.md", content: "x" }\n}\n}\n')
    new = program(new_text, test_registry)
    d = diff_programs(old, new, old_file="old.rag", new_file="new.rag")
    assert d["nodes"]["added"] == [{"graph": "research_review", "node": "save", "kind": "tool"}]
    changed = next(n for n in d["nodes"]["changed"] if n["node"] == "supervisor")
    assert changed["fields"]["tools"] == {"old": ["search", "read_repo"], "new": ["search"]}
    assert changed["fields"]["allow_tools"] == {"old": None, "new": ["search"]}
    assert {"graph": "research_review", "edge": "review -> save"} in d["edges"]["added"]
    assert {"graph": "research_review", "edge": "review -> END"} in d["edges"]["removed"]
    assert d["capabilities"]["tools"] == {"added": ["write_file"], "removed": []}
    assert {"where": "graph research_review", "key": "budget.max_model_calls", "old": None, "new": 10} in d["budgets"]
    assert {"where": "graph research_review", "key": "node supervisor allow.tools", "old": None,
            "new": ["search"]} in d["permissions"]
    text = render_diff_text(d)
    for line in ("nodes:", "  + save (tool)", "  ~ supervisor: tools, allow_tools", "  ~ review: routing.kind, routing.targets", "edges:",
                 "  + review -> save", "capabilities:", "  + tool write_file", "budgets and limits:",
                 "permissions:"):
        assert line in text.splitlines(), line
