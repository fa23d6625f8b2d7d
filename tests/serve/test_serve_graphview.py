"""The inspector's graph layout for every repository workflow: every node is
drawn once, every arrow joins two drawn boxes, boxes do not overlap, and
loops point upwards."""

from __future__ import annotations

import pytest
from wfkit import WORKFLOWS, repo_registry

from ragc.compiler import compile_file
from ragc.serve.graphview import graph_view


@pytest.mark.parametrize("name", sorted(p.stem for p in WORKFLOWS.glob("*.rag")))
def test_layout_of_each_workflow(name):
    result = compile_file(WORKFLOWS / f"{name}.rag", repo_registry())
    assert result.ok, [str(d) for d in result.diagnostics if d.is_error]
    view = graph_view(result.program)
    graph = result.program.graphs[result.program.entry]
    ids = [n["id"] for n in view["nodes"]]
    assert len(ids) == len(set(ids)) and set(graph.nodes) <= set(ids) and "START" in ids
    boxes = {n["id"]: n for n in view["nodes"]}
    for e in view["edges"]:
        assert e["from"] in boxes and e["to"] in boxes, e
    for a in view["nodes"]:
        assert 0 <= a["x"] and a["x"] + a["w"] <= view["width"] and a["y"] + a["h"] <= view["height"]
        for b in view["nodes"]:
            if a is not b:
                assert a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or \
                       a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"], (a["id"], b["id"])


def test_a_loop_points_upwards():
    result = compile_file(WORKFLOWS / "approval_flow.rag", repo_registry())
    view = graph_view(result.program)
    y = {n["id"]: n["y"] for n in view["nodes"]}
    (revise,) = [e for e in view["edges"] if e["label"] == "revise"]
    assert (revise["from"], revise["to"]) == ("approve", "draft") and y["draft"] < y["approve"]
    assert y["START"] < y["draft"] < y["gate"] < y["approve"] < y["publish"] < y["END"]
