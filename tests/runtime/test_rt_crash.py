"""Crash test: a real ``ragc run`` process is killed with SIGKILL while a
journaled workflow runs; ``ragc resume`` completes it, and the journal plus
the scripted provider's call log prove that no model call whose result was
journaled ran again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

RAGC = str(Path(sys.executable).with_name("ragc"))
STEPS = 8


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "registry.toml").write_text(
        '[models.m]\nprovider = "scripted"\nscript = "m.jsonl"\n'
        "[models.m.price]\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n")
    lines = []
    for i in range(STEPS):
        lines.append({"when": f"step {i} ", "text": f"result {i}", "delay_ms": 120})
        lines.append({"when": f"review {i} ", "text": f"ok {i}", "delay_ms": 40})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    nodes = []
    for i in range(STEPS):
        nxt = f"s{i + 1}" if i + 1 < STEPS else "END"
        nodes.append(f"""
  node s{i} {{
    kind model
    model "m"
    prompt "step {i} of the work"
    output items
    send [ r{i} {{ n: {i} }} ]
    join {nxt}
  }}
  node r{i} {{
    kind model
    model "m"
    prompt "review {i} of the work"
    output reviews
  }}""")
    src = "graph chain {\n  channel items append\n  channel reviews append\n  start s0\n" + "".join(nodes) + "\n}\n"
    (tmp_path / "chain.rag").write_text(src)
    return tmp_path


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RAGC_SCRIPTED_LOG"] = str(tmp_path / "calls.log")
    env.pop("RAGC_DEBUG", None)
    return env


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_repeats_no_completed_call(tmp_path):
    ws = _workspace(tmp_path)
    check = subprocess.run([RAGC, "check", "chain.rag"], cwd=ws, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen([RAGC, "run", "chain.rag", "--json", "--run-id", "crash-1"], cwd=ws, env=_env(ws),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = 0
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        ev = json.loads(line)
        if ev.get("type") == "checkpoint":
            checkpoints += 1
        if ev.get("type") == "model_call_started" and checkpoints >= 5:
            time.sleep(0.03)  # the call is in flight (its reply takes 40-120 ms)
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert checkpoints >= 5

    db = ws / ".ragc" / "runs.sqlite"
    conn = sqlite3.connect(db)
    status = conn.execute("SELECT status FROM runs WHERE id='crash-1'").fetchone()[0]
    before = conn.execute("SELECT max(seq) FROM records WHERE run_id='crash-1'").fetchone()[0]
    effects_before = {(a, json.loads(p)["key"]) for a, p in conn.execute(
        "SELECT activation, payload_json FROM records WHERE run_id='crash-1' AND kind='effect'")}
    conn.close()
    assert status == "running"
    assert 0 < len(effects_before) < 2 * STEPS

    res = subprocess.run([RAGC, "resume", "crash-1", "--json"], cwd=ws, env=_env(ws), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    final = json.loads(res.stdout.strip().splitlines()[-1])
    assert final["status"] == "completed"
    assert final["state"]["items"] == [f"result {i}" for i in range(STEPS)]
    assert final["state"]["reviews"] == [f"ok {i}" for i in range(STEPS)]

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT seq, activation, kind, payload_json FROM records WHERE run_id='crash-1' "
                        "ORDER BY seq").fetchall()
    conn.close()
    effect_keys = [(a, json.loads(p)["key"]) for _, a, k, p in rows if k == "effect"]
    assert len(effect_keys) == len(set(effect_keys)) == 2 * STEPS, "each model call is journaled exactly once"
    completions = [a for _, a, k, _ in rows if k == "node_completed"]
    assert len(completions) == len(set(completions)) == 2 * STEPS, "no activation completed twice"
    assert any(k == "resumed" and s > before for s, _, k, _ in rows)

    calls = [json.loads(x) for x in (ws / "calls.log").read_text().splitlines()]
    pids = sorted({c["pid"] for c in calls})
    assert len(pids) == 2, "calls were made before the kill and after the resume"
    first_pid = next(c["pid"] for c in calls)
    journaled_before = {act for act, _ in effects_before}
    prompt_of = {f"s{i}#1": f"step {i} " for i in range(STEPS)}
    prompt_of.update({f"s{i}#1/0:r{i}#1": f"review {i} " for i in range(STEPS)})
    for c in calls:
        if c["pid"] == first_pid:
            continue
        for act in journaled_before:
            assert prompt_of[act] not in c["last_user"], f"{act} was called again after the resume"
    total = len(calls)
    assert total <= 2 * STEPS + 1, "at most the one in-flight call is repeated"
