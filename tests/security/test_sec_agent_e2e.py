"""End to end, as issue 16 found it: a scripted agent's `run_command` calls
try to print a file outside the workspace; `ragc run --json` output and the
journal's bytes never hold it. Real `ragc` process, real SQLite journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seckit import DEFAULT_ALLOW, SECRET
from ragc.harness.tools import os_sandbox

WORKFLOW = """graph g {
  channel notes append
  start a
  node a { kind subagent agent "worker" input { task: "look around" } }
}
"""

CALLS = [
    "find . -maxdepth 0 -exec sh -c 'cat ../outside/secret.txt' ;",
    "find -L . -name secret.txt -exec cat {} +",
    "grep -R TOPSECRET .",
    "make -s -C../outside",
    "python3 -c \"print(open('../outside/secret.txt').read())\"",
    "python3 -c \"import os; print(os.environ.get('WORKER_API_KEY'))\"",
    "cat secret_link",
]


@pytest.mark.skipif(not os_sandbox.status().available, reason="needs the OS sandbox")
def test_a_scripted_agent_cannot_print_an_outside_file(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "Makefile").write_text("all:\n\t@cat secret.txt\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "secret_link").symlink_to(outside / "secret.txt")
    (ws / "g.rag").write_text(WORKFLOW)
    script = [{"tool_calls": [{"name": "run_command", "arguments": {"command": c}}]} for c in CALLS]
    script.append({"text": "done looking"})
    (ws / "agent.jsonl").write_text("".join(json.dumps(x) + "\n" for x in script))
    allow = ", ".join(f'"{p}"' for p in DEFAULT_ALLOW)
    (ws / "registry.toml").write_text(
        '[workspace]\nroot = "."\n\n[models.default]\nprovider = "scripted"\nscript = "agent.jsonl"\n\n'
        '[tools.run_command]\nbuiltin = "run_command"\n\n'
        f'[agents.worker]\nmodel = "default"\nprompt = "{{{{ input.task }}}}"\ntools = ["run_command"]\n'
        'max_iterations = 12\noutput = "notes"\n\n'
        f'[policies.default.run_command]\nallow = [{allow}]\n')
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "NO_COLOR": "1", "WORKER_API_KEY": "sk-worker-" + SECRET,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    r = subprocess.run([sys.executable, "-m", "ragc", "run", "g.rag", "--json", "--run-id", "e2e"], cwd=ws, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()[:-1]]  # the last line is the result
    tool_calls = [e for e in events if e["type"] == "tool_call_completed"]
    assert len(tool_calls) == len(CALLS), [e["type"] for e in events]
    assert SECRET not in r.stdout and SECRET not in r.stderr
    journal = b"".join(p.read_bytes() for p in (ws / ".ragc").glob("runs.sqlite*"))
    assert SECRET.encode() not in journal
    assert json.loads(r.stdout.splitlines()[-1])["status"] == "completed"
