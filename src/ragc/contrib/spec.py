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
          "completed_at": null,
          "checks": [{"file": "src/user.rs"}, {"command": "cargo test user", "expect": "ok"}],
          "attempts": 0,
          "last_check": null,           # what the last failed check printed
          "verified_by": null           # the passing check results of a complete task
        }
      ],
      "learnings": []
    }

ragc adds the last four task fields: a task's ``checks`` are machine-checkable
acceptance criteria (the ``run_checks`` tool's format,
:mod:`ragc.harness.tools.checks`), and :func:`spec_record` marks a task
``complete`` only when they passed. A worker's ``signal_completion
complete`` is a claim; the checks are the proof.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from typing import Any

from ragc.harness.citations import find_citations
from ragc.runtime.functions import NodeResult

STATUSES = ("pending", "in_progress", "complete", "blocked")
TRIVIAL_PROGRAMS = frozenset({"echo", "true", ":", "printf", "exit", "yes"})
"""Programs whose success proves nothing about the workspace: a planned check
that runs one of them is dropped."""
MAX_TASKS = 12
MAX_LEARNING_CHARS = 300
BLOCK_AFTER = 2
"""Attempts of a task after which a worker's ``blocked`` signal stops the loop
for a human (an earlier one is retried once: small models say blocked at the
first missing file)."""
# A goal that promises output says so with one of these words; without one, what a planned
# command "must print" is the planning model's guess (a module of functions prints nothing).
PRINT_WORDS = re.compile(r"\b(print|prints|printed|output|outputs|show|shows|display|displays|echo|echoes)\b",
                         re.IGNORECASE)
# a command the goal itself asks to run ("run python3 test_calc.py")
GOAL_COMMAND = re.compile(r"\b(python3? +[\w./-]+\.py(?: +(?:-[\w=-]+|\d+|[\w-]*[./][\w./-]*\w))*)")


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


def _rel(path: Any) -> str:
    """A planned path as a workspace-relative one (small models write ``/fib.py``)."""
    p = _text(path).strip().strip("`'\"")
    while p.startswith(("./", "/")):
        p = p[1:] if p.startswith("/") else p[2:]
    return p


def _checks_from(raw: dict[str, Any], goal: str = "") -> list[dict[str, Any]]:
    """The machine-checkable acceptance checks of a planned task: ``files``
    that must exist, and a ``command`` that must succeed and print
    ``expect``; ``checks`` already in the run_checks format are kept. Without
    a command, each ``.py`` file must run (``python3 FILE`` exits 0; the
    first one must print ``expect``), and for a task without one ``expect``
    is text its first file must contain; a ``.json`` file must parse. A command of
    :data:`TRIVIAL_PROGRAMS` proves nothing and is dropped. (When
    no file is listed, :func:`_task_from` adds the files the title and
    description name.) When ``goal`` is given and promises no output
    (:data:`PRINT_WORDS`), a command's ``expect`` is dropped: it is the
    planning model's guess, and a check that can never pass is as wrong as
    one that always does."""
    out: list[dict[str, Any]] = []
    files = [_rel(f) for f in _as_list(raw.get("files")) if _rel(f)]
    command, expect = _text(raw.get("command")), _text(raw.get("expect"))
    guessed_output = bool(goal) and not PRINT_WORDS.search(goal)
    for f in files:
        out.append({"file": f})
    programs = [f for f in files if f.endswith(".py")]
    if not command and programs:
        # a Python file the task writes must at least run without an error (and print
        # what is expected: a small model puts the output it wants there)
        command = f"python3 {programs[0]}"
        out.extend({"command": f"python3 {f}"} for f in programs[1:])
    elif not command and expect and files:
        # no program to print it: the text the task promises is in its (first) file
        out[0] = {"file": files[0], "contains": expect}
        expect = ""
    # a JSON file the task writes must parse (python3 -m json.tool exits 1 on invalid JSON)
    out.extend({"command": f"python3 -m json.tool {f}"} for f in files if f.endswith(".json"))
    commands = [(command, expect)]
    for c in raw.get("checks") or []:
        if isinstance(c, dict) and c.get("file") and _rel(c["file"]):
            out.append({k: v for k, v in {"file": _rel(c["file"]), "contains": c.get("contains")}.items()
                        if v is not None})
        elif isinstance(c, dict):
            commands.append((c.get("command"), c.get("expect")))
    for command, expect in commands:
        command = _text(command)
        if not command:
            continue
        program = command.split()[0].rsplit("/", 1)[-1]
        if program in TRIVIAL_PROGRAMS:
            continue
        check: dict[str, Any] = {"command": command}
        if _text(expect) and not guessed_output:
            check["expect"] = _text(expect)
        out.append(check)
    seen: list[dict[str, Any]] = []
    for c in out:
        if c not in seen:
            seen.append(c)
    return seen


def _describe(check: dict[str, Any]) -> str:
    if "command" in check:
        return f"`{check['command']}` succeeds" + (f" and prints {check['expect']!r}" if check.get("expect") else "")
    return f"{check['file']} exists" + (f" and contains {check['contains']!r}" if check.get("contains") else "")


def _task_from(raw: Any, index: int, goal: str = "") -> dict[str, Any]:
    """One planned task, from whatever shape the planning model produced:
    a string, or an object with title/name/task, description/details,
    acceptance_criteria/criteria/acceptance, and the checkable ``files``,
    ``command`` and ``expect`` (or ``checks``)."""
    checks: list[dict[str, Any]] = []
    if isinstance(raw, dict):
        title = _text(raw.get("title") or raw.get("name") or raw.get("task") or raw.get("description"))
        description = _text(raw.get("description") or raw.get("details")) or title
        criteria = _as_list(raw.get("acceptance_criteria") or raw.get("criteria") or raw.get("acceptance"))
        checks = _checks_from(raw, goal)
        if not any("file" in c for c in checks):
            # the files the task names must exist, when the plan listed none
            named = [c.path for c in find_citations(f"{title} {description}") if "://" not in c.path]
            checks = [{"file": _rel(p)} for p in dict.fromkeys(named) if _rel(p)] + checks
    else:
        title = str(raw).strip()
        description = title
        criteria = []
    title = title or f"Task {index}"
    criteria = criteria or [_describe(c) for c in checks] or [f"{title} is done and verified"]
    return {
        "id": f"task-{index}",
        "title": title,
        "description": description,
        "acceptance_criteria": criteria,
        "status": "pending",
        "blocked_reason": None,
        "completed_at": None,
        "checks": checks,
        "attempts": 0,
        "last_check": None,
        "verified_by": None,
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
        goal itself). A Python command the goal names (``run python3
        test_calc.py``) becomes a check of every task.
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
    tasks = [_task_from(t, i, goal) for i, t in enumerate(raw_tasks[:MAX_TASKS], start=1)]
    if not tasks:
        tasks = [_task_from({"title": goal or "Goal", "description": goal}, 1, goal)]
    # the commands the goal itself names are checks of every task, whatever checks the planning
    # model wrote: a plan split "fix calc.py" / "run the tests" would otherwise complete its first
    # task with calc.py still wrong (its own check only ran the module)
    for command in dict.fromkeys(m.strip() for m in GOAL_COMMAND.findall(goal)):
        for task in tasks:
            if not any(c.get("command") == command for c in task["checks"]):
                task["checks"].append({"command": command})
                task["acceptance_criteria"].append(_describe({"command": command}))
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
        input: ``{"spec": spec, "iterations"?: int, "max_iterations"?: int}``.

    Returns:
        ``NodeResult(value=task or None, update={"spec": new_spec, "blocked":
        blocked task or None})``. The value is ``None`` when every task is
        complete, when one is blocked (the loop asks a human for help: the
        blocked task is in ``blocked``), or when ``iterations`` reached
        ``max_iterations`` (then no task is touched: the untried ones stay
        ``pending``). An ``in_progress`` task (an attempt that did not
        finish) is taken before pending ones.
    """
    spec = copy.deepcopy(input.get("spec") or {})
    tasks = spec.get("tasks") or []
    blocked = next((t for t in tasks if t.get("status") == "blocked"), None)
    if blocked is not None:
        return NodeResult(value=None, update={"spec": spec, "blocked": copy.deepcopy(blocked)})
    cap = input.get("max_iterations")
    if cap is not None and int(input.get("iterations") or 0) >= int(cap):
        return NodeResult(value=None, update={"spec": spec, "blocked": None})
    for wanted in ("in_progress", "pending"):
        for task in tasks:
            if task.get("status") == wanted:
                task["status"] = "in_progress"
                return NodeResult(value=copy.deepcopy(task), update={"spec": spec, "blocked": None})
    return NodeResult(value=None, update={"spec": spec, "blocked": None})


def _learn(spec: dict[str, Any], task_id: str | None, note: str) -> None:
    if task_id and note:
        learning = f"{task_id}: {note}"
        if len(learning) > MAX_LEARNING_CHARS:
            learning = learning[: MAX_LEARNING_CHARS - 3] + "..."
        spec.setdefault("learnings", []).append(learning)


def _failed_summary(check: Any) -> str:
    results = check.get("results") if isinstance(check, dict) else None
    if not results:
        return "no acceptance check was run"
    bad = [r for r in results if not r.get("passed")]
    return "; ".join(f"{r.get('check')}: {' '.join(str(r.get('detail') or '').split())[:400]}" for r in bad)


def spec_record(input: dict[str, Any]) -> dict[str, Any]:
    """Record a worker's attempt at a task, judged by its acceptance checks.

    Args:
        input: ``{"spec": spec, "task": task, "outcome": outcome, "check":
            check}``: ``outcome`` is the worker agent's result (the
            ``signal_completion`` dict or its final text), ``check`` the
            ``run_checks`` result of the task's checks
            (``{"passed": bool, "results": [...]}``).

    Returns:
        The updated spec. The task becomes

        * ``complete`` when its checks passed (``verified_by`` keeps their
          results), whatever the worker said;
        * ``blocked`` when the worker signalled ``blocked`` and the checks
          did not pass, on the task's :data:`BLOCK_AFTER`-th attempt or
          later (an earlier ``blocked`` is retried), or when it has no checks
          at all (nothing could prove it done: a human must say how to check
          it);
        * ``pending`` otherwise, with ``last_check`` saying what failed, so
          the next iteration gives it back to the worker. A worker that
          claimed ``complete`` is recorded as such in the learnings, next to
          the failing check.
    """
    spec = copy.deepcopy(input.get("spec") or {})
    task_id = (input.get("task") or {}).get("id")
    outcome = input.get("outcome")
    check = input.get("check")
    passed = isinstance(check, dict) and check.get("passed") is True
    signal = outcome.get("signal") if isinstance(outcome, dict) else None
    said = ""
    if isinstance(outcome, dict):
        said = str(outcome.get("message") or outcome.get("reason") or "")
    elif outcome is not None:
        said = str(outcome).strip()
    note = ""
    for task in spec.get("tasks") or []:
        if task.get("id") != task_id:
            continue
        task["attempts"] = int(task.get("attempts") or 0) + 1
        if passed:
            task["status"] = "complete"
            task["completed_at"] = _now()
            task["last_check"] = None
            task["verified_by"] = check.get("results")
            note = f"verified: {said}" if said else "verified: all acceptance checks passed"
        elif not task.get("checks"):
            task["status"] = "blocked"
            task["blocked_reason"] = "the plan gave this task no checkable acceptance criteria"
            note = f"blocked: {task['blocked_reason']}"
        elif signal == "blocked" and task["attempts"] < BLOCK_AFTER:
            # small models give up at the first missing file: one more try before asking a human
            task["status"] = "pending"
            task["last_check"] = _failed_summary(check)
            note = f"said blocked ({said or 'no reason'}), tried again: check failed: {task['last_check']}"
        elif signal == "blocked":
            task["status"] = "blocked"
            task["blocked_reason"] = said or "blocked"
            task["last_check"] = _failed_summary(check)
            note = f"blocked: {task['blocked_reason']}"
        else:
            task["status"] = "pending"
            task["last_check"] = _failed_summary(check)
            claim = "claimed complete, but " if signal == "complete" else ""
            note = f"{claim}check failed: {task['last_check']}"
        break
    _learn(spec, task_id, note)
    return spec


def spec_unblock(input: dict[str, Any]) -> dict[str, Any]:
    """Apply a human's help to the blocked task (the Ralph loop's Help step).

    Args:
        input: ``{"spec": spec, "answer": text}``.

    Returns:
        The spec with the blocked task back to ``pending`` and the answer in
        the learnings (``"task-N: human: ..."``), so the worker sees it.
    """
    spec = copy.deepcopy(input.get("spec") or {})
    answer = " ".join(str(input.get("answer") or "").split())
    for task in spec.get("tasks") or []:
        if task.get("status") == "blocked":
            task["status"] = "pending"
            task["blocked_reason"] = None
            _learn(spec, task.get("id"), f"human: {answer or '(no answer)'}")
            break
    return spec
