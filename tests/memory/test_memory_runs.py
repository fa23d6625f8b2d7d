"""Memory across runs of ``workflows/remember.rag``: a real ``ragc run``
process saves a memory and is killed with SIGKILL right after; ``ragc
resume`` completes it without writing the memory twice; a second run
recalls the memory into the agent's task and answers from it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import ragc

ROOT = Path(__file__).resolve().parents[2]
RAGC = str(Path(sys.executable).with_name("ragc"))

REGISTRY = """
[models.default]
provider = "scripted"
script = "model.jsonl"
max_retries = 0

[stores.memory]
kind = "episodic"
path = ".ragc/memory.sqlite"
capacity = 50
half_life = "720h"

[tools.die_once]
python = "crash_tools:die_once"   # a module next to registry.toml

[agents.assistant]
prompt = "{{ input.message }}"
memory = ["memory"]
tools = ["die_once"]
max_iterations = 4
"""

CRASH_TOOLS = '''
import os, signal
from pathlib import Path


def die_once() -> str:
    """Kill this process the first time (a crash right after the memory was saved)."""
    marker = Path("died.marker")
    if not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return "still alive"
'''

SCRIPT = [
    {"when": "My favourite colour is teal",
     "tool_calls": [{"name": "memory_save", "arguments": {"text": "The user's favourite colour is teal",
                                                          "importance": 0.8}}]},
    {"when": "My favourite colour is teal", "tool_calls": [{"name": "die_once", "arguments": {}}]},
    {"when": "My favourite colour is teal", "text": "Noted: teal."},
    {"when": "- The user's favourite colour is teal", "text": "Your favourite colour is teal."},
]


def _project(tmp_path: Path) -> Path:
    (tmp_path / "registry.toml").write_text(REGISTRY)
    (tmp_path / "crash_tools.py").write_text(CRASH_TOOLS)
    (tmp_path / "model.jsonl").write_text("".join(json.dumps(x) + "\n" for x in SCRIPT))
    shutil.copy(ROOT / "workflows" / "remember.rag", tmp_path / "remember.rag")
    return tmp_path


def _memories(ws: Path) -> list[tuple]:
    with sqlite3.connect(ws / ".ragc" / "memory.sqlite") as conn:
        return conn.execute("SELECT agent, text, importance, origin FROM memories").fetchall()


@pytest.mark.slow
def test_memory_survives_kill_9_and_resume_once_and_is_recalled_next_run(tmp_path, monkeypatch):
    ws = _project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "RAGC_DEBUG"}
    check = subprocess.run([RAGC, "check", "remember.rag"], cwd=ws, capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([RAGC, "run", "remember.rag", "--input", "message=My favourite colour is teal",
                          "--run-id", "first", "--json"], cwd=ws, capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == -9, run.stderr  # killed inside die_once, after memory_save
    saved = _memories(ws)
    assert [(a, t) for a, t, _, _ in saved] == [("assistant", "The user's favourite colour is teal")]

    resume = subprocess.run([RAGC, "resume", "first", "--json"], cwd=ws, capture_output=True, text=True, env=env,
                            timeout=120)
    assert resume.returncode == 0, resume.stderr
    final = json.loads(resume.stdout.strip().splitlines()[-1])
    assert final["status"] == "completed" and final["state"]["reply"] == "Noted: teal."
    assert _memories(ws) == saved, "the resumed run did not write the memory again"

    monkeypatch.chdir(ws)
    second = ragc.run("remember.rag", {"message": "What is my favourite colour?"}, registry="registry.toml")
    assert second.status == "completed", second.error
    assert second.output == {"reply": "Your favourite colour is teal."} or \
        second.state["reply"] == "Your favourite colour is teal."
