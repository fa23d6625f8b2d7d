#!/usr/bin/env python
"""Two snapshots of ragc side by side: every case of the peer benchmark, old and new, in one pass.

A refactor of the runtime must not make any case slower. This driver exports two commits with
``git archive`` (the working tree may stand in for the new one), then runs each selected case of
``bench_common.py`` on ragc once per snapshot, the two alternating case by case (old, new, old,
new, ...) so they see the same machine load, each in its own subprocess (``bench_common.py
--worker``, the shared protocol: untimed validation, peak RSS reset, ``perf_counter`` around the
run call) with that snapshot's ``src`` first on ``PYTHONPATH``. It prints one row per case: the
medians and the ratio new / old.

No peer is needed (only ragc runs), so the project's own venv will do:

    .venv/bin/python bench/snapshots.py --old 28ab400 --new WORKTREE -n 7 --out bench/results-snapshots.jsonl
    .venv/bin/python bench/snapshots.py --report bench/results-snapshots.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def export(rev: str, into: Path) -> tuple[Path, str]:
    """``(src folder, label)`` of ``rev`` (``WORKTREE``: the working tree as it is)."""
    if rev == "WORKTREE":
        return REPO / "src", "worktree@" + _git("rev-parse", "--short", "HEAD")
    short = _git("rev-parse", "--short", rev)
    dest = into / short
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src", "grammar"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src", short


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def cases(only: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, str(HERE / "bench_common.py"), "--list",
                          *[x for o in only for x in ("--only", o)]], check=True, capture_output=True, text=True,
                         cwd=HERE).stdout
    return [ln for ln in out.splitlines() if ln.strip()]


def run_one(key: str, src: Path, repeat: int, timeout_s: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, str(HERE / "bench_common.py"), "--worker", key, "--runtime", "rag", "-n", str(repeat)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"key": key, "error": f"timeout after {timeout_s}s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"key": key, "error": (p.stderr or p.stdout)[-1500:]}
    return json.loads(lines[-1])


def report(path: Path) -> str:
    rows: dict[str, dict[str, dict]] = {}
    labels: list[str] = []
    for ln in path.read_text().splitlines():
        rec = json.loads(ln)
        lab = rec["snapshot"]
        if lab not in labels:
            labels.append(lab)
        rows.setdefault(rec["key"], {})[lab] = rec
    if len(labels) < 2:
        return "need two snapshots in the file"
    old, new = labels[0], labels[1]
    out = [f"| case | {old} median | {new} median | new / old |", "|---|---|---|---|"]
    ratios = []
    for key, by in rows.items():
        a, b = by.get(old, {}), by.get(new, {})
        if "wall_s" not in a or "wall_s" not in b:
            out.append(f"| {key} | {a.get('error', '—')[:40]} | {b.get('error', '—')[:40]} | — |")
            continue
        r = b["wall_s"] / a["wall_s"]
        ratios.append(r)
        out.append(f"| {key} | {a['wall_s'] * 1000:.3f} ms | {b['wall_s'] * 1000:.3f} ms | {r:.2f} |")
    if ratios:
        out.append(f"\n{len(ratios)} cases; new / old: median {statistics.median(ratios):.2f}, "
                   f"min {min(ratios):.2f}, max {max(ratios):.2f}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default="HEAD~1", help="the old commit (default HEAD~1)")
    ap.add_argument("--new", default="WORKTREE", help="the new commit, or WORKTREE (default)")
    ap.add_argument("-n", "--repeat", type=int, default=7)
    ap.add_argument("--only", action="append", default=[], help="case key substring (repeatable)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--timeout-s", type=float, default=180.0)
    ap.add_argument("--report", type=Path, help="print the table of a results file and exit")
    args = ap.parse_args()
    if args.report:
        print(report(args.report))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="ragc-snapshots-"))
    try:
        snaps = [export(args.old, tmp), export(args.new, tmp)]
        out = open(args.out, "a") if args.out else None
        for key in cases(args.only):
            for src, label in snaps:
                t0 = time.perf_counter()
                rec = run_one(key, src, args.repeat, args.timeout_s)
                rec["snapshot"] = label
                rec["case_total_s"] = round(time.perf_counter() - t0, 2)
                line = json.dumps(rec)
                print(f"{label:>18} {key:<50} " + (f"{rec['wall_s'] * 1000:9.3f} ms" if "wall_s" in rec
                                                   else rec.get("error", "")[-200:]), flush=True)
                if out:
                    out.write(line + "\n")
                    out.flush()
        if out:
            out.close()
            print(report(args.out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
