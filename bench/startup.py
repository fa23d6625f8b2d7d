"""Startup benchmark (issue 10, item 7): wall time from process start to
exit of ``ragc check`` and ``ragc run``, as ratios to ``python -c pass``.

Not a timed test: it prints a markdown table (and, with ``--out``, appends
one JSON record per case). Run it with the project's environment::

    .venv/bin/python bench/startup.py            # -n 15 rounds by default

Cases, each a fresh subprocess of the same interpreter (``python -m ragc``,
so a console-script wrapper does not count):

* ``python -c pass``: the floor;
* ``ragc check`` of the 50-node file of ``bench/frontend.py``
  (``program(10)``, 649 lines) against the repository's ``registry.toml``,
  twice: cold (``RAGC_NO_CACHE=1``: the whole front end runs) and warm
  (the result cache of ``.ragc/cache/check/`` answers: the untimed round
  wrote it); goal: at most 3x the floor;
* ``ragc run`` of a one-node workflow whose model is a scripted one (no
  network, no key), journaled in SQLite as by default; goal: at most 5x.

The cases are interleaved (one of each per round, in a fixed order) so a
change in machine load hits all of them alike; the ratio is that of the
medians, and the table also gives the minimum. Bytecode caching is turned
on for the subprocesses (``PYTHONDONTWRITEBYTECODE`` is removed from their
environment) and one untimed round warms it: a user's install has its
``.pyc`` files, and compiling ragc's sources on every start would be
measured otherwise. The 1-minute load average before and after is printed.

``--baseline SRC`` adds the two ragc cases once more with ``PYTHONPATH=SRC``
(the ``src`` folder of another checkout, e.g. ``git archive main | tar -x -C
/tmp/base``), interleaved in the same rounds: old and new side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGISTRY = ROOT / "registry.toml"

ONE_NODE_REGISTRY = """
[models.default]
provider = "scripted"
script = "default.jsonl"
"""

ONE_NODE = """graph hello {
  input { name: string }
  output { greeting: string }
  start greet
  channel greeting last
  node greet {
    kind model
    model "default"
    prompt "Greet {{ input.name }}"
    output greeting
    next END
  }
}
"""

COLD_CHECK = "ragc check (50 nodes, cold)"
WARM_CHECK = "ragc check (50 nodes, warm cache)"
GOALS = {COLD_CHECK: 3.0, WARM_CHECK: 3.0, "ragc run (1 node, scripted)": 5.0}
CASE_ENV = {COLD_CHECK: {"RAGC_NO_CACHE": "1"}}
"""Extra environment of a case (a baseline without the cache ignores it)."""


def _project(tmp: Path) -> dict[str, list[str]]:
    """Write the files of the cases under ``tmp``; the argv of each case."""
    sys.path.insert(0, str(HERE))
    from frontend import program  # the 50-node file of the front-end benchmark

    (tmp / ".git").mkdir()  # the project root: the default journal goes here
    (tmp / "typical.rag").write_text(program(10))
    (tmp / "registry.toml").write_text(ONE_NODE_REGISTRY)
    (tmp / "default.jsonl").write_text(json.dumps({"when": "Greet", "text": "Hello there"}) + "\n")
    (tmp / "hello.rag").write_text(ONE_NODE)
    py = sys.executable
    return {
        "python -c pass": [py, "-c", "pass"],
        COLD_CHECK: [py, "-m", "ragc", "check", "--registry", str(REGISTRY), "typical.rag"],
        WARM_CHECK: [py, "-m", "ragc", "check", "--registry", str(REGISTRY), "typical.rag"],
        "ragc run (1 node, scripted)": [py, "-m", "ragc", "run", "hello.rag", "--input", "name=bench"],
    }


def _with_baseline(cases: dict[str, list[str]], src: Path | None) -> dict[str, tuple[list[str], str | None]]:
    """Each case with the ``PYTHONPATH`` it runs with (``None``: this checkout)."""
    out: dict[str, tuple[list[str], str | None]] = {name: (argv, None) for name, argv in cases.items()}
    if src is not None:
        for name, argv in cases.items():
            if name in GOALS:
                out[f"{name} [baseline]"] = (argv, str(src.resolve()))
    return out


def _wall(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds from spawning ``argv`` to its exit; exit status 0 required."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-800:]}")
    return wall


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=15, help="timed rounds (one run of every case each)")
    ap.add_argument("--out", type=Path, help="a JSONL file to append one record per case to")
    ap.add_argument("--baseline", type=Path, metavar="SRC",
                    help="also time the ragc cases with PYTHONPATH=SRC (another checkout's src/)")
    args = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("RAGC_DEBUG", None)
    env.pop("RAGC_NO_CACHE", None)
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        cases = _with_baseline(_project(cwd), args.baseline)
        envs = {name: {**env, **CASE_ENV.get(name.removesuffix(" [baseline]"), {}),
                       **({} if path is None else {"PYTHONPATH": path})} for name, (_, path) in cases.items()}
        for name, (case, _) in cases.items():  # warm the page cache and write the bytecode caches
            _wall(case, cwd, envs[name])
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (case, _) in cases.items():
                times[name].append(_wall(case, cwd, envs[name]))
    load_after = _load()
    floor = statistics.median(times["python -c pass"])
    print(f"startup, {args.rounds} rounds, load average {load_before:.2f} -> {load_after:.2f} "
          f"({os.cpu_count()} CPUs), python {sys.version.split()[0]}\n")
    print("| case | median | min | ratio to `python -c pass` (medians) | goal |")
    print("|---|---|---|---|---|")
    records = []
    for name, ts in times.items():
        med, low = statistics.median(ts), min(ts)
        ratio = med / floor
        goal = GOALS.get(name) if name in GOALS else None
        verdict = f"≤ {goal:g}×: **{'met' if ratio <= goal else 'not met'}**" if goal else ""
        print(f"| {name} | {med * 1000:.1f} ms | {low * 1000:.1f} ms | {ratio:.2f}× | {verdict} |")
        records.append({"case": name, "median_s": med, "min_s": low, "ratio_to_bare_python": ratio,
                        "rounds": args.rounds, "loadavg_1m": [load_before, load_after]})
    if args.out is not None:
        revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True).stdout.strip() or None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with args.out.open("a") as f:
            for r in records:
                f.write(json.dumps({"at": stamp, "revision": revision, "bench": "startup", **r}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
