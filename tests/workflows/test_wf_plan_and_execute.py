"""``workflows/plan_and_execute.rag`` (the seed Rustagent flow) with scripted
models and the real file, shell and check tools: the plan becomes
``spec.json`` in Rustagent's format with machine-checkable acceptance checks;
the Ralph loop works task by task, runs each task's checks with the
``run_checks`` tool and marks a task complete only when they pass (a worker's
claim is not enough, and a failed check goes back to the worker with its
output); ``max_iterations`` leaves untried tasks pending; a blocked task stops
at a help interrupt, and the human's answer reaches the worker on resume."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from wfkit import load_workflow, run_workflow

pytestmark = pytest.mark.anyio

GOAL = "Add a greeting module and publish it."
GREET_CHECK = "python3 -c \"from greet import greet; assert greet() == 'hello'\""
PLAN = {
    "name": "Greeting module",
    "tasks": [
        {"title": "Write greet.py", "description": "Create greet.py with a greet() function that returns 'hello'.",
         "files": ["greet.py"], "command": GREET_CHECK, "expect": ""},
        {"title": "Publish the package", "description": "Upload the package to the index.",
         "files": ["PUBLISHED"], "command": "", "expect": ""},
    ],
}
GREET = "def greet():\n    return 'hello'\n"
BLOCKED = "publishing needs an API token that I do not have"

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SPEC_KEYS = {"name", "description", "branch_name", "created_at", "tasks", "learnings"}
TASK_KEYS = {"id", "title", "description", "acceptance_criteria", "status", "blocked_reason", "completed_at",
             "checks", "attempts", "last_check", "verified_by"}


@pytest.fixture(autouse=True)
def python_on_path(monkeypatch):
    # run_command finds `python3` on PATH: make it this interpreter's
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def read_spec(workspace: Path) -> dict:
    spec = json.loads((workspace / "spec.json").read_text(encoding="utf-8"))
    assert set(spec) == SPEC_KEYS
    assert ISO.match(spec["created_at"])
    assert isinstance(spec["learnings"], list)
    for task in spec["tasks"]:
        assert set(task) == TASK_KEYS
        assert task["status"] in ("pending", "in_progress", "complete", "blocked")
    return spec


def claim(message: str) -> dict:
    return {"tool_calls": [{"name": "signal_completion", "arguments": {"signal": "complete", "message": message}}]}


async def test_a_claimed_completion_whose_check_fails_is_not_complete_and_goes_back_to_the_worker(
        registry, tmp_path, model_requests):
    ws = tmp_path / "ws"
    ws.mkdir()
    script = [
        {"when": f"Goal: {GOAL}", "json": {"name": "greet", "tasks": [PLAN["tasks"][0]]}},
        # attempt 1: the worker claims success without writing anything
        {"when": "Task task-1: Write greet.py", **claim("greet.py written")},
        # attempt 2 (only once the failed check reached the prompt): it writes the file, then claims
        {"when": "The last check failed: greet.py exists: greet.py does not exist", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "greet.py", "content": GREET}}]},
        {"when": "The last check failed", **claim("now it is really written")},
    ]
    run = await run_workflow("plan_and_execute", registry(default=script), ws, {"goal": GOAL})
    result, events = run.result, run.events
    assert result.status == "completed", result.error

    spec = read_spec(ws)
    assert spec == result.output["spec"], "spec.json holds the final spec"
    (task,) = spec["tasks"]
    assert task["checks"] == [{"file": "greet.py"}, {"command": GREET_CHECK}]
    assert task["status"] == "complete" and ISO.match(task["completed_at"]) and task["attempts"] == 2
    assert [r["passed"] for r in task["verified_by"]] == [True, True]
    claimed, verified = spec["learnings"]
    assert claimed.startswith("task-1: claimed complete, but check failed: greet.py exists: greet.py does not exist; ")
    assert verified == "task-1: verified: now it is really written"
    # the checks really ran, twice, through the run_checks tool
    checks = events.of("tool_call_completed", tool="run_checks", node="verify")
    assert [c.is_error for c in checks] == [False, False]
    assert [e.label for e in events.of("route_chosen", node="gate")] == ["work", "work", "stop"]
    assert (ws / "greet.py").read_text(encoding="utf-8") == GREET
    # the first spec.json written after the failed attempt did not say complete
    assert result.state["iterations"] == 2


async def test_max_iterations_leaves_untried_tasks_pending(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    script = [
        {"when": f"Goal: {GOAL}", "json": PLAN},
        {"when": "Task task-1", "text": "Still thinking about greet.py.", "repeat": True},
    ]
    run = await run_workflow("plan_and_execute", registry(default=script), ws, {"goal": GOAL, "max_iterations": 2})
    result, events = run.result, run.events
    assert result.status == "completed", result.error

    assert len(events.of("node_started", node="work")) == 2
    assert [e.label for e in events.of("route_chosen", node="gate")] == ["work", "work", "stop"]
    assert result.state["iterations"] == 2
    spec = read_spec(ws)
    first, second = spec["tasks"]
    assert first["status"] == "pending" and first["attempts"] == 2, "a failed attempt is pending, not complete"
    assert "greet.py does not exist" in first["last_check"]
    assert second["status"] == "pending" and second["attempts"] == 0, "the untried task stays pending"
    assert all(t["completed_at"] is None and t["blocked_reason"] is None for t in spec["tasks"])
    assert not (ws / "greet.py").exists()


async def test_a_blocked_task_asks_a_human_for_help_and_the_answer_reaches_the_worker(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    answer = "Skip the upload: create the file PUBLISHED instead."
    script = [
        {"when": f"Goal: {GOAL}", "json": PLAN},
        {"when": "Task task-1: Write greet.py", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "greet.py", "content": GREET}}]},
        {"when": "Task task-1: Write greet.py", **claim("greet.py written")},
        {"when": f"task-2: human: {answer}", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "PUBLISHED", "content": "ok\n"}}]},
        {"when": f"task-2: human: {answer}", **claim("marked as published")},
        # blocked twice: the first `blocked` of a task is tried once more, the second asks a human
        {"when": "Task task-2: Publish the package", "repeat": True, "tool_calls": [
            {"name": "signal_completion", "arguments": {"signal": "blocked", "reason": BLOCKED}}]},
    ]
    reg = registry(default=script)
    journal = tmp_path / "runs.sqlite"
    with load_workflow("plan_and_execute", reg, ws, journal=journal) as wf:
        first = await wf.run({"goal": GOAL}, run_id="help-1")
        assert first.status == "interrupted", first.error
        assert first.interrupt["question"] == (f"Task task-2 (Publish the package) is blocked: {BLOCKED}. "
                                             "How should the agent continue?")
        spec = read_spec(ws)
        assert [t["status"] for t in spec["tasks"]] == ["complete", "blocked"]
        assert spec["tasks"][1]["blocked_reason"] == BLOCKED

        done = await wf.resume("help-1", answer=answer)
    assert done.status == "completed", done.error
    spec = read_spec(ws)
    assert [t["status"] for t in spec["tasks"]] == ["complete", "complete"]
    assert f"task-2: human: {answer}" in spec["learnings"]
    assert (ws / "PUBLISHED").read_text() == "ok\n"
