"""The seed Rustagent's ``spec.json`` task format, as pure workflow functions.

``workflows/plan_and_execute.rag`` uses these as registry ``[functions.*]``
entries (see ``registry.toml``): a planning node's answer becomes a spec, the
Ralph loop takes the next pending task, and each worker outcome updates the
spec. The functions do no I/O; the workflow reads and writes ``spec.json``
with the sandboxed ``write_file`` tool, so a workflow still does nothing its
registry does not grant.

The format (Rustagent README, "Specification Format")::

    {
      "name": "implement-user-auth",
      "description": "Implement user authentication system with JWT",
      "branch_name": "feature/user-auth",
      "created_at": "2026-01-20T10:30:00Z",
      "tasks": [
        {
          "id": "task-1",
          "title": "Create User model",
          "description": "Define User struct with fields for authentication",
          "acceptance_criteria": ["User struct has email, password_hash, and created_at fields"],
          "status": "pending",          # pending | in_progress | complete | blocked
          "blocked_reason": null,
          "completed_at": null
        }
      ],
      "learnings": []
    }
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from typing import Any

from ragc.runtime.functions import NodeResult

STATUSES = ("pending", "in_progress", "complete", "blocked")
MAX_TASKS = 12
MAX_LEARNING_CHARS = 300


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "spec"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = [p.strip(" -*\t") for p in value.splitlines()]
        return [p for p in parts if p]
    if isinstance(value, (list, tuple)):
        return [t for t in (_text(v) for v in value) if t]
    return [_text(value)]


def _text(value: Any) -> str:
    """A task field as text: a string as is; from an object (a small model
    sometimes nests one where a string belongs) its title/name/description
    or first string value; anything else as JSON-ish ``str``."""
    if isinstance(value, dict):
        for key in ("title", "name", "task", "description", "text"):
            if isinstance(value.get(key), str):
                return value[key].strip()
        strings = [v for v in value.values() if isinstance(v, str)]
        return strings[0].strip() if strings else ""
    return "" if value is None else str(value).strip()


def _task_from(raw: Any, index: int) -> dict[str, Any]:
    """One planned task, from whatever shape the planning model produced:
    a string, or an object with title/name/task, description/details and
    acceptance_criteria/criteria/acceptance."""
    if isinstance(raw, dict):
        title = _text(raw.get("title") or raw.get("name") or raw.get("task") or raw.get("description"))
        description = _text(raw.get("description") or raw.get("details")) or title
        criteria = _as_list(raw.get("acceptance_criteria") or raw.get("criteria") or raw.get("acceptance"))
    else:
        title = str(raw).strip()
        description = title
        criteria = []
    title = title or f"Task {index}"
    return {
        "id": f"task-{index}",
        "title": title,
        "description": description,
        "acceptance_criteria": criteria or [f"{title} is done and verified"],
        "status": "pending",
        "blocked_reason": None,
        "completed_at": None,
    }


def spec_from_plan(input: dict[str, Any]) -> dict[str, Any]:
    """Build a new spec from a plan.

    Args:
        input: ``{"goal": str, "plan": plan}`` where ``plan`` is the planning
            node's result: an object ``{"name"?, "description"?, "tasks":
            [...]}``, a list of tasks, or text with one task per line.

    Returns:
        A spec dict in the Rustagent format, every task ``pending``
        (at most :data:`MAX_TASKS` tasks; an empty plan gives one task, the
        goal itself).
    """
    goal = str(input.get("goal") or "").strip()
    plan = input.get("plan")
    name = ""
    description = goal
    if isinstance(plan, dict):
        raw_tasks = plan.get("tasks") or []
        name = str(plan.get("name") or "")
        description = str(plan.get("description") or goal)
    elif isinstance(plan, list):
        raw_tasks = plan
    else:
        raw_tasks = _as_list(plan)
    tasks = [_task_from(t, i) for i, t in enumerate(raw_tasks[:MAX_TASKS], start=1)]
    if not tasks:
        tasks = [_task_from({"title": goal or "Goal", "description": goal}, 1)]
    name = _slug(name or goal)
    return {
        "name": name,
        "description": description,
        "branch_name": f"feature/{name}",
        "created_at": _now(),
        "tasks": tasks,
        "learnings": [],
    }


def spec_next_task(input: dict[str, Any]) -> NodeResult:
    """Pick the Ralph loop's next task and mark it ``in_progress``.

    Args:
        input: ``{"spec": spec}``.

    Returns:
        ``NodeResult(value=task or None, update={"spec": new_spec})``. The
        value is ``None`` when every task is complete or one is blocked (the
        loop stops: a blocked task needs a human). An ``in_progress`` task
        (a previous attempt that did not finish) is taken before pending ones.
    """
    spec = copy.deepcopy(input.get("spec") or {})
    tasks = spec.get("tasks") or []
    if any(t.get("status") == "blocked" for t in tasks):
        return NodeResult(value=None, update={"spec": spec})
    for wanted in ("in_progress", "pending"):
        for task in tasks:
            if task.get("status") == wanted:
                task["status"] = "in_progress"
                return NodeResult(value=copy.deepcopy(task), update={"spec": spec})
    return NodeResult(value=None, update={"spec": spec})


def spec_record(input: dict[str, Any]) -> dict[str, Any]:
    """Record a worker's outcome for a task and add what it learned.

    Args:
        input: ``{"spec": spec, "task": task, "outcome": outcome}`` where
            ``outcome`` is the worker agent's result: the
            ``signal_completion`` dict (``{"signal": "complete", "message":
            ...}`` or ``{"signal": "blocked", "reason": ...}``), or its final
            text when it stopped without signalling (the task then stays
            ``in_progress`` and is taken again).

    Returns:
        The updated spec.
    """
    spec = copy.deepcopy(input.get("spec") or {})
    task_id = (input.get("task") or {}).get("id")
    outcome = input.get("outcome")
    note = ""
    for task in spec.get("tasks") or []:
        if task.get("id") != task_id:
            continue
        if isinstance(outcome, dict) and outcome.get("signal") == "complete":
            task["status"] = "complete"
            task["completed_at"] = _now()
            note = str(outcome.get("message") or "completed")
        elif isinstance(outcome, dict) and outcome.get("signal") == "blocked":
            task["status"] = "blocked"
            task["blocked_reason"] = str(outcome.get("reason") or outcome.get("message") or "blocked")
            note = f"blocked: {task['blocked_reason']}"
        else:
            note = str(outcome or "").strip() or "no result"
        break
    if task_id and note:
        learning = f"{task_id}: {note}"
        if len(learning) > MAX_LEARNING_CHARS:
            learning = learning[: MAX_LEARNING_CHARS - 3] + "..."
        spec.setdefault("learnings", []).append(learning)
    return spec
