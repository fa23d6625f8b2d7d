"""``workflows/plan_and_execute.rag`` with the repository registry as it is:
the embedded local model (Qwen2.5-Coder-1.5B via llama.cpp, 2 threads)
plans and works in a temporary workspace. Marked ``llm``: it needs
``ragc[local]`` and the installed model, and takes minutes on 2 cores.
Assertions are on the shape of the outcome, never on the model's text."""

from __future__ import annotations

import json
import time

import pytest
from wfkit import REGISTRY_TOML, Events, WORKFLOWS

import ragc

pytestmark = [pytest.mark.llm, pytest.mark.anyio]

STATUSES = {"pending", "in_progress", "complete", "blocked"}
TASK_KEYS = {"id", "title", "description", "acceptance_criteria", "status", "blocked_reason", "completed_at"}


@pytest.fixture(scope="module")
def model_ready() -> None:
    pytest.importorskip("llama_cpp")
    from ragc.harness import local_models

    try:
        local_models.ensure_model("qwen2.5-coder-1.5b")
    except local_models.ConfigError as exc:
        pytest.skip(f"local model not installed: {exc}")


@pytest.mark.timeout(3600)
async def test_plan_and_execute_with_the_local_model(model_ready, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    events = Events()
    with ragc.load(WORKFLOWS / "plan_and_execute.rag", registry=REGISTRY_TOML, journal="memory", workspace=ws) as wf:
        started = time.monotonic()
        result = await wf.run({"goal": "Create a file named hello.txt that contains the word hello.",
                               "max_iterations": 3}, on_event=events)
        elapsed = time.monotonic() - started
    worked = len(events.of("node_started", node="work"))
    print(f"\nplan_and_execute with the local model: {elapsed:.0f} s, {result.usage.get('model_calls')} model calls, "
          f"{worked} worker activations, files: {sorted(p.name for p in ws.iterdir())}")

    # completed, or waiting at the help interrupt for a task the worker could not finish
    assert result.status in ("completed", "interrupted"), result.error
    print("tasks:", [(t.get("title"), t.get("status")) for t in result.state["spec"]["tasks"]])
    print("learnings:", result.state["spec"]["learnings"])
    assert 1 <= worked <= 3, "max_iterations bounds the worker activations"
    spec = json.loads((ws / "spec.json").read_text(encoding="utf-8"))
    assert spec == result.state["spec"]
    assert {"name", "description", "branch_name", "created_at", "tasks", "learnings"} <= set(spec)
    assert isinstance(spec["name"], str) and spec["name"]
    assert spec["branch_name"] == f"feature/{spec['name']}"
    assert isinstance(spec["tasks"], list) and len(spec["tasks"]) >= 1
    for task in spec["tasks"]:
        assert TASK_KEYS <= set(task)
        assert task["status"] in STATUSES
        assert isinstance(task["acceptance_criteria"], list) and task["acceptance_criteria"]
        assert (task["completed_at"] is not None) == (task["status"] == "complete")
        assert (task["blocked_reason"] is not None) == (task["status"] == "blocked")
        if task["status"] == "complete":  # only ever by its checks
            assert task["checks"] and task["verified_by"] and all(r["passed"] for r in task["verified_by"])
    assert isinstance(spec["learnings"], list) and len(spec["learnings"]) == worked
