"""Quality evaluation of the flagship workflows on a real model, scored by checking the outcome.

    python bench/quality.py research [--model 0.5b|1.5b] [--only ID,ID] [--repeat N]
    python bench/quality.py plan     [--model 0.5b|1.5b] [--only ID,ID]
    python bench/quality.py all      ...            # both suites
    python bench/quality.py table results-quality.jsonl   # markdown tables of recorded results

* **research** (``workflows/research_review.rag``, the seed graph verbatim): each question of
  ``tests/quality/research_tasks.json`` is run with ``ragc run --json`` in a subprocess. The
  report (the ``review`` node's message) is right when every fact matches, no wrong claim
  matches, and every path it cites (and the guard did not mark unverified) exists in the
  repository *and* was returned by a tool in that run -- read from the run's journal, not from
  the guard.
* **plan** (``workflows/plan_and_execute.rag``): each goal of ``tests/quality/plan_tasks.json``
  runs in a fresh scratch workspace seeded with its files. A goal is achieved when the
  evaluator's own checks pass afterwards (run here with ``subprocess``, not through ragc). A
  *false complete* is a task that ``spec.json`` records ``complete`` whose recorded checks fail
  when the evaluator re-runs them (or that has none); *done but goal missed* is a run whose
  tasks are all complete (their recorded checks passed) while the evaluator's checks fail: the
  plan's checks were weaker than the goal.

Every run appends a JSON line to ``--out`` (default ``bench/results-quality.jsonl``) with the
machine's core count and load average, so a table says what it was measured on. The model is
chosen by rewriting the ``source`` of the registry's local models into a temporary registry
(``--model``); nothing else changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tests" / "quality"
MODELS = {"0.5b": "qwen2.5-coder-0.5b", "1.5b": "qwen2.5-coder-1.5b"}
GUARD_NOTE = "\n\n(citation guard:"
UNVERIFIED = "[unverified"

sys.path.insert(0, str(ROOT / "src"))
from ragc.harness.citations import find_citations  # noqa: E402
from ragc.harness.tools.checks import expect_matches  # noqa: E402


def ragc_command() -> list[str]:
    """The ragc CLI of the interpreter running this script."""
    return [sys.executable, "-m", "ragc.cli.main"]


def registry_for(model: str, folder: Path) -> Path:
    """A copy of the repository registry whose local models load ``model`` (a key of
    :data:`MODELS`), written into ``folder``."""
    text = (ROOT / "registry.toml").read_text(encoding="utf-8")
    text = re.sub(r'source = "qwen2\.5-coder-[0-9.]+b"', f'source = "{MODELS[model]}"', text)
    path = folder / "registry.toml"
    path.write_text(text, encoding="utf-8")
    return path


def machine() -> dict[str, Any]:
    """Core count and 1-minute load average, for the record."""
    return {"cores": os.cpu_count(), "load1": round(os.getloadavg()[0], 2)}


def journal_sources(journal: Path, run_id: str) -> set[str]:
    """The files the run's tools returned, read straight from the journal's effect records."""
    out: set[str] = set()
    with sqlite3.connect(journal) as conn:
        for (payload,) in conn.execute("SELECT payload_json FROM records WHERE run_id = ? AND kind = 'effect'",
                                       (run_id,)):
            rec = json.loads(payload)
            value = rec.get("value") or {}
            if rec.get("kind") == "tool" and not value.get("is_error"):
                out.update(value.get("sources") or ())
    return out


def run_ragc(args: list[str], *, cwd: Path, timeout: float = 900) -> tuple[dict[str, Any] | None, float, str]:
    """Run ``ragc ARGS --json``; returns (the last JSON line, wall seconds, stderr tail)."""
    started = time.monotonic()
    try:
        proc = subprocess.run(ragc_command() + args + ["--json"], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:  # counted as a run that gave no result
        return None, time.monotonic() - started, f"timed out after {timeout:g} s: {str(exc.stderr or '')[-500:]}"
    wall = time.monotonic() - started
    last = None
    for line in reversed(proc.stdout.splitlines()):
        try:
            last = json.loads(line)
            break
        except ValueError:
            continue
    return last, wall, proc.stderr[-2000:]


# ----------------------------------------------------------------------------- research


def report_of(state: dict[str, Any]) -> str:
    """The review node's report from a research_review run's state."""
    for msg in reversed(state.get("messages") or []):
        if msg.get("name") == "review":
            return str(msg.get("content") or "")
    return ""


def score_report(task: dict[str, Any], report: str, sources: set[str]) -> dict[str, Any]:
    """Score one research report (rules in the module doc)."""
    body = report.split(GUARD_NOTE, 1)[0]
    low = body.lower()
    missing = [group for group in task["facts"] if not any(re.search(p, low, re.I) for p in group)]
    wrong = [p for p in task["wrong"] if re.search(p, low, re.I)]
    bad: list[str] = []
    cited: list[str] = []
    for c in find_citations(body):
        if body[c.end:c.end + 1 + len(UNVERIFIED)].strip().startswith(UNVERIFIED):
            continue
        cited.append(c.path)
        path = c.path.split(":", 1)[0].lstrip("./") if not c.path.startswith("http") else c.path
        if c.path.startswith(("http://", "https://", "ftp://")) or not (ROOT / path).is_file() or path not in sources:
            bad.append(c.path)
    right = bool(body.strip()) and not missing and not wrong and not bad
    return {"right": right, "missing_facts": missing, "wrong_claims": wrong, "bad_citations": bad, "cited": cited}


def workdir(keep: Path | None):
    """A scratch folder: ``keep`` (kept afterwards, for reading the journals) or a temporary one."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(str(keep))
    return tempfile.TemporaryDirectory(prefix="ragc-quality-")


def research(model: str, only: set[str] | None, repeat: int, out: Path,
             keep: Path | None = None) -> list[dict[str, Any]]:
    tasks = json.loads((TASKS / "research_tasks.json").read_text())["tasks"]
    rows = []
    with workdir(keep) as tmp:
        reg = registry_for(model, Path(tmp))
        journal = Path(tmp) / "journal.sqlite"
        for task in tasks:
            if only and task["id"] not in only:
                continue
            for n in range(repeat):
                before = machine()
                last, wall, err = run_ragc(["run", "workflows/research_review.rag", "--registry", str(reg),
                                            "--workspace", str(ROOT), "--journal", str(journal),
                                            "--input", f"question={task['question']}"], cwd=ROOT)
                state = (last or {}).get("state") or {}
                report = report_of(state)
                run_id = (last or {}).get("run_id")
                sources = journal_sources(journal, run_id) if run_id else set()
                score = score_report(task, report, sources)
                usage = (last or {}).get("usage") or {}
                row = {"suite": "research", "model": model, "task": task["id"], "repeat": n, "status": (last or {}).get("status"),
                       "wall_s": round(wall, 1), "input_tokens": usage.get("input_tokens"),
                       "output_tokens": usage.get("output_tokens"), "model_calls": usage.get("model_calls"),
                       "report": report, "machine": before, **score}
                if last is None:
                    row["stderr"] = err
                rows.append(row)
                with out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"research {model} {task['id']}#{n}: {'RIGHT' if row['right'] else 'wrong'} "
                      f"{row['wall_s']}s missing={len(score['missing_facts'])} wrong={score['wrong_claims']} "
                      f"bad_cites={score['bad_citations']}", flush=True)
    return rows


# ----------------------------------------------------------------------------- plan and execute


def run_check(ws: Path, check: dict[str, Any]) -> bool:
    """Run one check (the run_checks format) in ``ws`` with plain subprocess."""
    if check.get("command"):
        try:
            proc = subprocess.run(shlex.split(check["command"]), cwd=ws, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            return False
        if proc.returncode != int(check.get("exit_code", 0)):
            return False
        return not check.get("expect") or expect_matches(str(check["expect"]), proc.stdout)
    if check.get("file"):
        target = ws / str(check["file"]).lstrip("/")
        if not target.is_file():
            return False
        return check.get("contains") is None or str(check["contains"]) in target.read_text(errors="replace")
    return False


def plan(model: str, only: set[str] | None, out: Path, keep: Path | None = None,
         max_iterations: int | None = None) -> list[dict[str, Any]]:
    tasks = json.loads((TASKS / "plan_tasks.json").read_text())["tasks"]
    rows = []
    with workdir(keep) as tmp:
        reg = registry_for(model, Path(tmp))
        journal = Path(tmp) / "journal.sqlite"
        for task in tasks:
            if only and task["id"] not in only:
                continue
            ws = Path(tmp) / f"ws-{task['id']}"
            shutil.rmtree(ws, ignore_errors=True)
            ws.mkdir()
            for name, text in task["files"].items():
                (ws / name).parent.mkdir(parents=True, exist_ok=True)
                (ws / name).write_text(text)
            before = machine()
            last, wall, err = run_ragc(["run", "workflows/plan_and_execute.rag", "--registry", str(reg),
                                        "--workspace", str(ws), "--journal", str(journal), "--no-ask",
                                        "--input", f"goal={task['goal']}"]
                                       + (["--input", f"max_iterations={max_iterations}"] if max_iterations else []),
                                       cwd=ROOT)
            achieved = all(run_check(ws, c) for c in task["checks"])
            try:
                spec = json.loads((ws / "spec.json").read_text())
            except (OSError, ValueError):
                spec = {}
            statuses = [t.get("status") for t in spec.get("tasks") or []]
            false_complete = [t.get("id") for t in spec.get("tasks") or [] if t.get("status") == "complete" and not (
                t.get("checks") and all(run_check(ws, c) for c in t["checks"]))]
            # the run says the goal is done (every task complete) but the evaluator's checks fail:
            # the recorded checks were weaker than the goal
            wrong_success = bool(statuses) and all(s == "complete" for s in statuses) and not achieved
            usage = (last or {}).get("usage") or {}
            row = {"suite": "plan", "model": model, "task": task["id"], "status": (last or {}).get("status"),
                   "achieved": achieved, "false_complete": false_complete, "wrong_success": wrong_success,
                   "statuses": statuses,
                   "wall_s": round(wall, 1), "input_tokens": usage.get("input_tokens"),
                   "output_tokens": usage.get("output_tokens"), "model_calls": usage.get("model_calls"),
                   "machine": before}
            if last is None:
                row["stderr"] = err
            rows.append(row)
            with out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"plan {model} {task['id']}: {'ACHIEVED' if achieved else 'not achieved'} status={row['status']} "
                  f"tasks={statuses} false_complete={false_complete} wrong_success={wrong_success} {row['wall_s']}s", flush=True)
    return rows


# ----------------------------------------------------------------------------- tables


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown summary per (suite, model) of ``rows``."""
    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["suite"], r["model"]), []).append(r)
    out.append("| suite | model | right / achieved | false complete | done but goal missed | bad citations | median wall "
               "| mean tokens (in+out) | load (1 min) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for (suite, model), rs in sorted(groups.items()):
        good = sum(1 for r in rs if r.get("right") or r.get("achieved"))
        walls = sorted(r["wall_s"] for r in rs)
        toks = [((r.get("input_tokens") or 0) + (r.get("output_tokens") or 0)) for r in rs]
        fc = sum(len(r.get("false_complete") or []) for r in rs) if suite == "plan" else "—"
        ws = sum(1 for r in rs if r.get("statuses") and all(x == "complete" for x in r["statuses"])
                 and not r.get("achieved")) if suite == "plan" else "—"
        bc = sum(len(r.get("bad_citations") or []) for r in rs) if suite == "research" else "—"
        loads = [r["machine"]["load1"] for r in rs]
        out.append(f"| {suite} | {model} | {good} / {len(rs)} | {fc} | {ws} | {bc} | {walls[len(walls) // 2]:.0f} s | "
                   f"{sum(toks) / len(toks):.0f} | {min(loads):.1f}–{max(loads):.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("suite", choices=["research", "plan", "all", "table"])
    p.add_argument("results", nargs="?", help="for `table`: the JSONL file")
    p.add_argument("--model", choices=sorted(MODELS), default="0.5b")
    p.add_argument("--only", help="comma-separated task ids")
    p.add_argument("--repeat", type=int, default=1, help="runs per research question")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results-quality.jsonl")
    p.add_argument("--keep", type=Path, help="keep journals and workspaces in this folder")
    a = p.parse_args(argv)
    if a.suite == "table":
        rows = [json.loads(line) for line in Path(a.results or a.out).read_text().splitlines() if line.strip()]
        print(table(rows))
        return 0
    only = set(a.only.split(",")) if a.only else None
    rows: list[dict[str, Any]] = []
    if a.suite in ("research", "all"):
        rows += research(a.model, only, a.repeat, a.out, a.keep)
    if a.suite in ("plan", "all"):
        rows += plan(a.model, only, a.out, a.keep)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
