"""CLI conventions (issue 13, point 6), with real ``ragc`` processes:
did-you-mean, usage errors in the command's own usage, shell completion,
-q/-v, --color, ``runs events --follow``, the state an interrupt asks about,
``approve``'s capability summary, number agreement, tool failures said once,
a broken registry located in ``run``, and the ``--force`` spelling."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clikit import ragc

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("argv, usage, message, hint", [
    (["chek", "x.rag"], "usage: ragc ", "error: unknown command `chek`", "did you mean `check`?"),
    (["check", "--formt", "json", "x.rag"], "usage: ragc check ", "error: unexpected argument `--formt`",
     "did you mean `--format`?"),
    (["runs", "lst"], "usage: ragc runs ", "error: unknown subcommand `lst`", "did you mean `list`?"),
    (["runs", "list", "--jornal", "j.sqlite"], "usage: ragc runs list ", "for `ragc runs list`",
     "did you mean `--journal`?"),
])
def test_usage_errors_name_the_command_and_suggest(project, argv, usage, message, hint):
    r = ragc(*argv, cwd=project)
    assert r.code == 2
    assert r.err.startswith(usage), r.err
    assert message in r.err and f"= help: {hint}" in r.err
    assert "Traceback" not in r.err


def test_bash_and_zsh_completion_scripts(project, tmp_path):
    r = ragc("completion", "bash", cwd=project)
    assert r.code == 0
    for word in ("check", "graph", "runs", "--format", "--follow"):
        assert word in r.out
    script = tmp_path / "ragc.bash"
    script.write_text(r.out)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0  # it parses
    z = ragc("completion", "zsh", cwd=project)
    assert z.code == 0 and z.out.startswith("#compdef ragc")


# --------------------------------------------------------------------------- -q, -v, --color


def test_quiet_and_verbose(project):
    sub = project / "sub" / "dir"
    assert ragc("-q", "check", "hello.rag", cwd=sub).out == ""
    r = ragc("run", "hello.rag", "-i", "name=Ada", "-q", cwd=sub)
    assert r.code == 0 and r.out == "Hello there\n" and r.err == ""
    r = ragc("-v", "run", "hello.rag", "-i", "name=Ada", cwd=sub)
    assert f"registry: {project / 'registry.toml'}" in r.err
    assert f"journal: {project / '.ragc' / 'runs.sqlite'}" in r.err
    assert "model default for greet#1:" in r.err  # call-level progress


def test_color_always_and_never(project):
    bad = project / "bad.rag"
    bad.write_text("graph g {\n  start a\n  node a { kind modle }\n}\n")
    always = ragc("check", "bad.rag", "--color", "always", cwd=project, env={"NO_COLOR": ""})
    assert "\x1b[" in always.out
    never = ragc("--color", "never", "check", "bad.rag", cwd=project)
    assert "\x1b[" not in never.out and "error" in never.out


# --------------------------------------------------------------------------- runs


def test_runs_events_follow_tails_a_live_run_until_it_ends(project):
    (project / "default.jsonl").write_text(json.dumps({"when": "Greet", "text": "Hello", "delay_ms": 3000}) + "\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(project / ".no-config")}
    run = subprocess.Popen([sys.executable, "-m", "ragc", "run", "sub/dir/hello.rag", "-i", "name=Ada", "--run-id",
                            "tail-me", "-q"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        journal = project / ".ragc" / "runs.sqlite"
        for _ in range(200):  # until the run is in the journal
            if journal.exists() and ragc("runs", "list", cwd=project).out.count("tail-me"):
                break
            time.sleep(0.05)
        r = ragc("runs", "events", "tail-me", "--follow", "--json", cwd=project)
    finally:
        run.wait(timeout=60)
    assert run.returncode == 0
    types = [json.loads(x)["type"] for x in r.out.splitlines()]
    assert r.code == 0 and types[-1] == "run_finished" and "model_call_completed" in types


def test_counts_agree_in_number(project):
    r = ragc("run", "sub/dir/hello.rag", "-i", "name=Ada", cwd=project)
    assert re.search(r"completed in \d+\.\ds · 1 step · 1 model call · \d+ tokens", r.err), r.err
    run_id = r.err.strip().split()[-1]
    shown = ragc("runs", "show", run_id, cwd=project)
    assert "usage: 1 step, 1 model call, 0 tool calls" in shown.out


# --------------------------------------------------------------------------- interrupts and approvals

APPROVAL = (ROOT / "workflows" / "approval_flow.rag").read_text()


@pytest.fixture
def approval_project(project):
    (project / "registry.toml").write_text(project.joinpath("registry.toml").read_text()
                                           + '\n[tools.write_file]\nbuiltin = "write_file"\n')
    (project / "default.jsonl").write_text(json.dumps(
        {"when": "announcement", "text": "ragc 1.0 is out!\nIt compiles .rag files.", "repeat": True}) + "\n")
    (project / "approval_flow.rag").write_text(APPROVAL)
    return project


def test_an_interrupt_shows_the_draft_before_the_question(approval_project):
    r = ragc("run", "approval_flow.rag", "-i", "topic=ragc", cwd=approval_project)
    assert r.code == 3
    err = r.err
    assert err.index("drafts:\n    ragc 1.0 is out!\n    It compiles .rag files.") < err.index(
        "interrupted: Publish this draft?")


def test_an_inline_question_in_a_terminal_shows_the_draft_first(approval_project):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(approval_project)
        os.environ.update(COLUMNS="100", XDG_CONFIG_HOME=str(approval_project / ".no-config"), NO_COLOR="1")
        os.execv(sys.executable, [sys.executable, "-m", "ragc", "run", "approval_flow.rag", "-i", "topic=ragc"])
    out = b""
    answered = False
    deadline = time.monotonic() + 60  # a guard against a hang, not a measurement
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        if not answered and b"Publish this draft?" in out and b"answer" in out.split(b"Publish this draft?")[-1]:
            os.write(fd, b"publish\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = ANSI.sub("", out.decode("utf-8", "replace"))
    assert answered and os.waitstatus_to_exitcode(status) == 0, text
    assert text.index("ragc 1.0 is out!") < text.index("? Publish this draft?")
    assert (approval_project / "announcement.md").read_text().startswith("ragc 1.0 is out!")


def test_approve_shows_what_the_file_may_do(approval_project):
    (approval_project / "registry.toml").write_text(approval_project.joinpath("registry.toml").read_text()
                                                    + '\n[policies.untrusted]\nallow_tools = ["write_file"]\n'
                                                      'max_steps = 50\n')
    r = ragc("approve", "approval_flow.rag", cwd=approval_project)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "`approval_flow.rag` (approval_flow) may use:"
    assert "  model default: scripted (on this machine)" in lines
    assert "  tool write_file: builtin write_file (writes files in the workspace)" in lines
    assert any(x.startswith("within: ") and "policy max_steps 50" in x for x in lines)
    assert lines[-1].startswith("approved `approval_flow.rag`")


def test_resume_of_a_changed_graph_speaks_cli(approval_project):
    r = ragc("run", "approval_flow.rag", "-i", "topic=ragc", cwd=approval_project)
    run_id = next(x.split()[2] for x in r.err.splitlines() if x.strip().startswith("ragc resume "))
    (approval_project / "approval_flow.rag").write_text(APPROVAL.replace("Publish this draft?", "Ship it?"))
    r = ragc("resume", run_id, "--answer", "publish", cwd=approval_project)
    assert r.code == 2 and "E0913" in r.err
    assert "add `--force`" in r.err and "force=True" not in r.err


# --------------------------------------------------------------------------- failures


def test_a_tool_failure_is_said_once(project):
    (project / "t.rag").write_text('graph t {\n  start r\n  node r { kind tool  tool "read_file"  '
                                   'args { path: "missing.txt" }  next END }\n}\n')
    r = ragc("run", "t.rag", cwd=project)
    assert r.code == 1
    assert "tool `read_file` failed: " in r.err
    assert "read_file failed:" not in r.err.replace("tool `read_file` failed:", "")


def test_a_broken_registry_is_located_in_run_as_in_check(project):
    (project / "registry.toml").write_text(project.joinpath("registry.toml").read_text()
                                           + '\n[models.fast]\nprovider = "scripted"\nscrpt = "x.jsonl"\n')
    for argv in (["run", "sub/dir/hello.rag", "-i", "name=Ada"], ["check", "sub/dir/hello.rag"]):
        r = ragc(*argv, cwd=project)
        text = r.out + r.err
        assert "--> registry.toml:11:1" in text and "scrpt" in text, text
        assert r.code in (1, 2) and "Traceback" not in text


@pytest.mark.parametrize("module", ["ragc", "ragc.cli.main"])
def test_every_entry_point_reports_an_expected_error_without_internal_error(tmp_path, module):
    # `python -m ragc.cli.main` ran a second copy of the module, whose CliError the commands did
    # not raise: an expected error came out as "internal error: CliError"
    r = subprocess.run([sys.executable, "-m", module, "runs", "list", "--journal", str(tmp_path / "none.sqlite")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("error: no journal at") and "internal error" not in r.stderr
