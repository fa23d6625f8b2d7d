"""Authoring trials: ``ragc new``'s loop (:func:`ragc.author.loop.author`) on
every goal of ``tests/authoring/tasks.py``, with and without
grammar-constrained decoding, on the embedded model (registry ``default``).

One process, one loaded model: both configurations share the model and its
prompt cache (the system prompt, ``ragc spec``, is evaluated once). Goals
alternate between the two configurations, so a run stopped early still
compares them on the same goals. Each finished trial appends one JSON line
to the output file at once::

    {"task", "grammar", "first_ok", "ok", "rounds", "fidelity": {prop: bool},
     "props_met", "props", "tokens", "seconds", "errors_first": [codes], "errors_last": [codes],
     "gaps": [goal gaps left, ragc.author.goal], "text"}

Usage: ``.venv/bin/python bench/authoring_trials.py [--out FILE] [--rounds N] [--only ID,..]
[--decoding both|grammar|plain]``
(run from the repository root; it uses ``registry.toml`` there);
``--report`` prints the Markdown table of ``docs/authoring.md`` from the file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "authoring"))

from tasks import TASKS  # noqa: E402

from ragc.author.decoding import writer_for  # noqa: E402
from ragc.author.loop import author  # noqa: E402
from ragc.cli.fmt import spec_text  # noqa: E402
from ragc.registry.loader import load_registry  # noqa: E402


def report(path: Path) -> str:
    """The Markdown table of the trials in ``path``: per configuration, the
    goals tried, first-try check pass rate, pass rate after repair, and
    fidelity (properties met over all properties of the goals tried; a file
    that never passed check meets none)."""
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = ["| decoding | goals | passes check at once | passes after repair | properties met | "
            "tokens / goal | seconds / goal |", "|---|---|---|---|---|---|---|"]
    for grammar in (True, False):
        ls = [x for x in lines if x["grammar"] is grammar]
        if not ls:
            continue
        n = len(ls)
        first = sum(x["first_ok"] for x in ls)
        ok = sum(x["ok"] for x in ls)
        met, props = sum(x["props_met"] for x in ls), sum(x["props"] for x in ls)
        rows.append(f"| {'grammar (llguidance)' if grammar else 'free text'} | {n} | {first}/{n} ({first / n:.0%}) | "
                    f"{ok}/{n} ({ok / n:.0%}) | {met}/{props} ({met / max(props, 1):.0%}) | "
                    f"{sum(x['tokens'] for x in ls) / n:.0f} | {sum(x['seconds'] for x in ls) / n:.0f} |")
    return "\n".join(rows) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "authoring_trials.jsonl")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=600)
    ap.add_argument("--only", default="")
    ap.add_argument("--decoding", choices=["both", "grammar", "plain"], default="both",
                    help="which configurations to run (the issue's goals are stated for `grammar`)")
    ap.add_argument("--report", action="store_true", help="print the Markdown table of --out and exit")
    args = ap.parse_args()
    if args.report:
        sys.stdout.write(report(args.out))
        return 0
    load = load_registry(REPO / "registry.toml", cwd=REPO)
    reg = load.registry
    spec = spec_text(reg)
    # import every module the loop uses now (a compile), so that edits to the
    # source tree during a long run cannot be picked up half-way
    from ragc.author.loop import check_text

    check_text("graph g {\n  start a\n  node a {\n    kind model\n  }\n}\n", reg)
    writers = {True: writer_for(reg, "default", constrained=True, max_tokens=args.max_tokens),
               False: writer_for(reg, "default", constrained=False, max_tokens=args.max_tokens)}
    only = {x for x in args.only.split(",") if x}
    for task in TASKS:
        if only and task.id not in only:
            continue
        for grammar in {"both": (True, False), "grammar": (True,), "plain": (False,)}[args.decoding]:
            started = time.monotonic()
            res = author(task.goal, reg, writers[grammar], spec, rounds=args.rounds)
            fid = task.fidelity(res.program) if res.program is not None else {k: False for k in task.props}
            line = {"task": task.id, "grammar": grammar, "first_ok": res.first_try_ok, "ok": res.ok,
                    "rounds": len(res.rounds) - 1, "fidelity": fid, "props_met": sum(fid.values()),
                    "props": len(fid), "tokens": sum(r.tokens for r in res.rounds),
                    "seconds": round(time.monotonic() - started, 1),
                    "errors_first": [e["code"] for e in res.rounds[0].errors],
                    "errors_last": [e["code"] for e in res.rounds[-1].errors],
                    "gaps": [g["message"] for g in res.gaps], "text": res.text}
            with args.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
            print(f"{task.id} grammar={grammar} first_ok={res.first_try_ok} ok={res.ok} "
                  f"props={line['props_met']}/{line['props']} {line['seconds']}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
