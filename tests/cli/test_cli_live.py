"""The live view of ``ragc run`` (issue 13, point 5): branches by their
payload, their state and call, cancelled apart from done, and a complete
summary at the end -- in a real pseudo-terminal, and event by event."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ragc import events as E
from ragc.cli.live import LiveView, ProgressPrinter

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")

REGISTRY = """
[models.default]
provider = "scripted"
script = "default.jsonl"

[models.fast]
provider = "scripted"
script = "fast.jsonl"

[agents.reviewer]
model = "fast"
prompt = "Review this diff for {{ input.focus }}:\\n{{ input.diff }}"
output = "reviews"
"""
FAST = [
    {"when": "review focuses", "text": "security\nperformance"},
    {"when": "for security", "text": "approve: safe", "delay_ms": 200},
    {"when": "for performance", "text": "approve: fast", "delay_ms": 100},
    {"when": "for style", "text": "approve: tidy", "delay_ms": 300},
    # the two slow reviewers lose the quorum race and are cancelled
    {"when": "for tests", "text": "request changes", "delay_ms": 20000},
    {"when": "for docs", "text": "approve: documented", "delay_ms": 20000},
]


@pytest.fixture
def quorum_project(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "registry.toml").write_text(REGISTRY)
    (tmp_path / "default.jsonl").write_text(json.dumps({"when": "Decide", "text": "merge it"}) + "\n")
    (tmp_path / "fast.jsonl").write_text("".join(json.dumps(x) + "\n" for x in FAST))
    (tmp_path / "quorum_review.rag").write_text((ROOT / "workflows" / "quorum_review.rag").read_text())
    return tmp_path


def run_in_pty(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin/stdout/stderr (what a
    user's terminal is); return the exit code and the output without
    terminal control sequences."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 110 columns
        os.chdir(cwd)
        os.environ.update(COLUMNS="110", LINES="40", XDG_CONFIG_HOME=str(cwd / ".no-config"))
        os.environ.pop("NO_COLOR", None)
        os.execv(sys.executable, [sys.executable, *argv])
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_live_view_in_a_terminal_tells_branches_apart_and_keeps_a_complete_summary(quorum_project):
    code, out = run_in_pty(["-m", "ragc", "run", "quorum_review.rag", "-i", "diff=fix a bug", "--no-ask"],
                           quorum_project)
    assert code == 0, out
    # while running: each branch by its payload and what it is doing
    assert "reviewer focus=tests  running" in out and "· model fast" in out
    # the summary printed when the view closes
    summary = out[out.rindex("✓ dispatch#1"):]
    assert "⋔ dispatch: 3 done, 2 cancelled of 5 · join quorum 3 · tolerate 1 · timeout 2m: ok" in summary
    for focus in ("security", "performance", "style"):
        assert re.search(rf"✓ reviewer focus={focus}  done \d+\.\ds · 1 model call, \d+ tokens", summary), summary
    for focus in ("tests", "docs"):
        assert re.search(rf"⊘ reviewer focus={focus}  cancelled \d+\.\ds · join fired", summary), summary
    assert "✓ decide#1" in summary and "merge it" in summary
    assert re.search(r"completed in \d+\.\ds · 7 steps · 7 model calls", summary)


def _fan_events(n: int):
    t = 1000.0
    yield E.RunStarted("r", t, "g", "sha256:x")
    yield E.FanOutStarted("r", t, "d", "d#1", n, "j", E.branch_labels(["w"] * n, [{"i": i} for i in range(n)]))


def test_queued_running_streaming_and_cancelled_are_distinct():
    console = Console(file=io.StringIO(), width=120, record=True)
    view = LiveView("g", console=console)
    for ev in _fan_events(3):
        view(ev)
    view(E.NodeStarted("r", 1001.0, "w", "d#1/0:w#1", "model"))
    view(E.ModelCallStarted("r", 1001.0, "w", "d#1/0:w#1", "fast", "m1"))
    view(E.ModelDelta("r", 1001.1, "w", "d#1/0:w#1", "Hello, "))
    view(E.ModelDelta("r", 1001.2, "w", "d#1/0:w#1", "world"))
    view(E.NodeStarted("r", 1001.0, "w", "d#1/1:w#1", "tool"))
    view(E.ToolCallStarted("r", 1001.0, "w", "d#1/1:w#1", "read_file", "t1"))
    console.print(view)
    text = console.export_text()
    assert "0 done, 2 running, 1 queued of 3" in text
    assert "▶ w i=0  running" in text and "model fast · 12 chars streamed" in text
    assert "▶ w i=1  running" in text and "tool read_file" in text
    assert "· w i=2  queued" in text
    view(E.BranchFinished("r", 1002.0, "w", "d#1", 0, "ok"))
    view(E.NodeCancelled("r", 1002.0, "w", "d#1/1:w#1", "join fired"))
    view(E.BranchFinished("r", 1002.0, "w", "d#1", 1, "cancelled"))
    view(E.BranchFinished("r", 1002.0, "w", "d#1", 2, "cancelled"))
    view(E.JoinFired("r", 1002.0, "j", "d#1", "any", 1, 0, 2, 0, "ok"))
    lines = view.summary()
    assert lines[0].startswith("[cyan]⋔[/] d: 1 done, 2 cancelled of 3 · join j: ok")
    assert "cancelled" in lines[2] and "join fired" in lines[2]
    assert "queued" not in "".join(lines)  # a branch cancelled before it started is cancelled


def test_the_summary_keeps_every_step_and_counts_what_it_does_not_list():
    view = LiveView("g", console=Console(file=io.StringIO()))
    n = LiveView.SUMMARY_BRANCHES + 10
    for ev in _fan_events(n):
        view(ev)
    for i in range(n):
        view(E.BranchFinished("r", 1001.0, "w", "d#1", i, "ok" if i % 2 else "failed"))
    view(E.JoinFired("r", 1002.0, "j", "d#1", "all", n // 2, n // 2, 0, 0, "error"))
    for k in range(30):  # far more top-level steps than the old 12-line tail
        view(E.NodeCompleted("r", 1003.0 + k, f"s{k}", f"s{k}#1", 0.5))
    lines = view.summary()
    assert [k for k in range(30) if any(f"✓[/] s{k}#1 " in ln for ln in lines)] == list(range(30))
    assert "… and 10 more: 5 failed, 5 done" in lines[LiveView.SUMMARY_BRANCHES + 1]
    assert lines[0].startswith(f"[cyan]⋔[/] d: {n // 2} done, {n // 2} failed of {n}")


def test_branch_labels_show_what_differs_and_stay_short():
    labels = E.branch_labels(["reviewer"] * 2, [{"diff": "x" * 10_000, "focus": "security"},
                                                {"diff": "x" * 10_000, "focus": "style"}])
    assert labels == ("reviewer focus=security", "reviewer focus=style")
    (one,) = E.branch_labels(["w"], [{"items": list(range(100_000))}])
    assert one.startswith("w items=[0, 1, 2, ...]") and len(one) <= E.LABEL_CHARS
    assert E.branch_labels(["w", "w"], ["a.py", "b.py"]) == ("w a.py", "w b.py")  # `for` items


def test_progress_lines_agree_in_number():
    buf = io.StringIO()
    p = ProgressPrinter(buf)
    p(E.FanOutStarted("r", 1.0, "d", "d#1", 1, None))
    p(E.FanOutStarted("r", 1.0, "d", "d#2", 2, None))
    assert buf.getvalue().splitlines() == ["  fan-out d#1: 1 branch", "  fan-out d#2: 2 branches"]
