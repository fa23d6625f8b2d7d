"""Without an OS sandbox, `ragc check`/`run` say so (W0960) and an
`--untrusted` run refuses `run_command` unless its policy says otherwise;
a trusted run still runs commands with the argument checks. Real `ragc`
processes with `RAGC_SANDBOX=off` standing in for a machine without
bubblewrap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragc.harness.tools import os_sandbox

WORKFLOW = """graph g {
  channel out last
  start a
  node a { kind tool tool "run_command" args { command: "ls" } output out }
}
"""


def ragc(cwd: Path, *argv: str, sandbox_off: bool = True) -> subprocess.CompletedProcess:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "NO_COLOR": "1"}
    if sandbox_off:
        env["RAGC_SANDBOX"] = "off"
    else:
        env.pop("RAGC_SANDBOX", None)
    return subprocess.run([sys.executable, "-m", "ragc", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "g.rag").write_text(WORKFLOW)
    (tmp_path / "hello.txt").write_text("hi\n")
    return tmp_path


def registry(project: Path, untrusted_policy: str = "") -> None:
    (project / "registry.toml").write_text(
        '[models.default]\nprovider = "local"\n\n[tools.run_command]\nbuiltin = "run_command"\n\n'
        '[policies.untrusted]\nrequire_approval = false\n' + untrusted_policy)


def test_check_and_run_say_there_is_no_sandbox(project: Path):
    registry(project)
    r = ragc(project, "check", "g.rag")
    assert r.returncode == 0 and "W0960" in r.stdout + r.stderr and "RAGC_SANDBOX=off" in r.stdout + r.stderr
    shown = ragc(project, "run", "g.rag")
    assert shown.returncode == 0 and "W0960" in shown.stderr, shown.stderr
    trusted = ragc(project, "run", "g.rag", "--json")
    assert trusted.returncode == 0, trusted.stderr
    assert "hello.txt" in json.loads(trusted.stdout.splitlines()[-1])["state"]["out"]["stdout"]
    if os_sandbox.status().available:  # a machine with bubblewrap: no warning
        with_sandbox = ragc(project, "check", "g.rag", sandbox_off=False)
        assert "W0960" not in with_sandbox.stdout + with_sandbox.stderr


def test_untrusted_runs_refuse_commands_without_a_sandbox(project: Path):
    registry(project)
    r = ragc(project, "run", "g.rag", "--untrusted", "--json")
    assert r.returncode == 1, r.stderr
    final = json.loads(r.stdout.splitlines()[-1])
    assert final["status"] == "failed" and "OS sandbox" in final["error"]["message"]


def test_an_untrusted_policy_may_allow_unsandboxed_commands(project: Path):
    registry(project, '\n[policies.untrusted.run_command]\nsandbox = "off"\n')
    r = ragc(project, "run", "g.rag", "--untrusted", "--json")
    assert r.returncode == 0, r.stderr
