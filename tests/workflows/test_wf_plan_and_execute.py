"""``workflows/plan_and_execute.rag`` (the seed Rustagent flow) with
scripted models: the plan becomes ``spec.json`` in Rustagent's format, the
Ralph loop works task by task with the real file tools, records learnings,
marks tasks complete or blocked, and stops at a blocked task or at
``max_iterations``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from wfkit import run_workflow

pytestmark = pytest.mark.anyio

GOAL = "Add a greeting module and publish it."
PLAN = {
    "name": "Greeting module",
    "tasks": [
        {"title": "Write greet.py", "description": "Create greet.py with a greet() function.",
         "acceptance_criteria": ["greet.py exists", "greet() returns 'hello'"]},
        {"title": "Publish the package", "description": "Upload the package to the index.",
         "acceptance_criteria": ["the package is on the index"]},
    ],
}
GREET = "def greet():\n    return 'hello'\n"
BLOCKED = "publishing needs an API token that I do not have"

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SPEC_KEYS = {"name", "description", "branch_name", "created_at", "tasks", "learnings"}
TASK_KEYS = {"id", "title", "description", "acceptance_criteria", "status", "blocked_reason", "completed_at"}


def read_spec(workspace: Path) -> dict:
    spec = json.loads((workspace / "spec.json").read_text(encoding="utf-8"))
    assert set(spec) == SPEC_KEYS
    assert ISO.match(spec["created_at"])
    assert isinstance(spec["learnings"], list)
    for task in spec["tasks"]:
        assert set(task) == TASK_KEYS
        assert task["status"] in ("pending", "in_progress", "complete", "blocked")
    return spec


async def test_tasks_are_completed_then_blocked_and_spec_json_records_it(registry, tmp_path, model_requests):
    ws = tmp_path / "ws"
    ws.mkdir()
    script = [
        {"when": f"Goal: {GOAL}", "json": PLAN},
        {"when": "Task task-1: Write greet.py", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "greet.py", "content": GREET}}]},
        {"when": "Task task-1: Write greet.py", "tool_calls": [
            {"name": "signal_completion", "arguments": {"signal": "complete", "message": "greet.py written"}}]},
        {"when": "Task task-2: Publish the package", "tool_calls": [
            {"name": "signal_completion", "arguments": {"signal": "blocked", "reason": BLOCKED}}]},
    ]
    run = await run_workflow("plan_and_execute", registry(default=script), ws, {"goal": GOAL})
    result, events = run.result, run.events
    assert result.status == "completed", result.error

    spec = read_spec(ws)
    assert spec == result.output["spec"], "spec.json holds the final spec"
    assert spec["name"] == "greeting-module" and spec["branch_name"] == "feature/greeting-module"
    assert spec["description"] == GOAL
    first, second = spec["tasks"]
    assert first["id"] == "task-1" and first["title"] == "Write greet.py"
    assert first["description"] == PLAN["tasks"][0]["description"]
    assert first["acceptance_criteria"] == PLAN["tasks"][0]["acceptance_criteria"]
    assert first["status"] == "complete" and ISO.match(first["completed_at"]) and first["blocked_reason"] is None
    assert second["id"] == "task-2" and second["status"] == "blocked"
    assert second["blocked_reason"] == BLOCKED and second["completed_at"] is None
    assert spec["learnings"] == ["task-1: greet.py written", f"task-2: blocked: {BLOCKED}"]

    # the worker's file is real, written through the sandboxed tool
    assert (ws / "greet.py").read_text(encoding="utf-8") == GREET
    writes = events.of("tool_call_completed", tool="write_file", node="work")
    assert [e.is_error for e in writes] == [False]

    # the loop stopped at the blocked task: two worker activations, no third call
    assert [e.activation for e in events.of("node_started", node="work")] == ["work#1", "work#2"]
    assert [e.label for e in events.of("route_chosen", node="gate")] == ["work", "work", "stop"]
    assert len(model_requests) == 4
    assert result.state["iterations"] == 2 and result.state["task"] is None
    # the second task's prompt carried the first task's learning
    assert "task-1: greet.py written" in model_requests[3].last_user()


async def test_max_iterations_stops_a_worker_that_never_signals(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    script = [
        {"when": f"Goal: {GOAL}", "json": {"name": "greet", "tasks": [PLAN["tasks"][0]]}},
        {"when": "Task task-1", "text": "Still thinking about greet.py.", "repeat": True},
    ]
    run = await run_workflow("plan_and_execute", registry(default=script), ws, {"goal": GOAL, "max_iterations": 2})
    result, events = run.result, run.events
    assert result.status == "completed", result.error

    assert len(events.of("node_started", node="work")) == 2
    assert [e.label for e in events.of("route_chosen", node="gate")] == ["work", "work", "stop"]
    assert result.state["iterations"] == 2
    spec = read_spec(ws)
    (task,) = spec["tasks"]
    assert task["status"] == "in_progress", "an unsignalled task is neither complete nor blocked"
    assert task["completed_at"] is None and task["blocked_reason"] is None
    assert spec["learnings"] == ["task-1: Still thinking about greet.py."] * 2
    assert not (ws / "greet.py").exists()
