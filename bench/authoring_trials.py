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
     "text"}

Usage: ``.venv/bin/python bench/authoring_trials.py [--out FILE] [--rounds N] [--only ID,..]``
(run from the repository root; it uses ``registry.toml`` there).
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "authoring_trials.jsonl")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=600)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    load = load_registry(REPO / "registry.toml", cwd=REPO)
    reg = load.registry
    spec = spec_text(reg)
    writers = {True: writer_for(reg, "default", constrained=True, max_tokens=args.max_tokens),
               False: writer_for(reg, "default", constrained=False, max_tokens=args.max_tokens)}
    only = {x for x in args.only.split(",") if x}
    for task in TASKS:
        if only and task.id not in only:
            continue
        for grammar in (True, False):
            started = time.monotonic()
            res = author(task.goal, reg, writers[grammar], spec, rounds=args.rounds)
            fid = task.fidelity(res.program) if res.program is not None else {k: False for k in task.props}
            line = {"task": task.id, "grammar": grammar, "first_ok": res.first_try_ok, "ok": res.ok,
                    "rounds": len(res.rounds) - 1, "fidelity": fid, "props_met": sum(fid.values()),
                    "props": len(fid), "tokens": sum(r.tokens for r in res.rounds),
                    "seconds": round(time.monotonic() - started, 1),
                    "errors_first": [e["code"] for e in res.rounds[0].errors],
                    "errors_last": [e["code"] for e in res.rounds[-1].errors], "text": res.text}
            with args.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
            print(f"{task.id} grammar={grammar} first_ok={res.first_try_ok} ok={res.ok} "
                  f"props={line['props_met']}/{line['props']} {line['seconds']}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
