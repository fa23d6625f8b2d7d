"""Fixtures of the `.ragsh` tests: a project folder with a registry of
scripted models (tests/workflows' `scripted:` provider), a workspace file
tool, a Python probe tool that records how many of its calls overlap, an
agent, and a registry graph."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"

REGISTRY = """\
[workspace]
root = "ws"

[models.fake]
provider = "scripted"
script = "fake.jsonl"
description = "scripted replies for the .ragsh tests"
max_retries = 0

[tools.read_file]
builtin = "read_file"

[tools.probe]
python = "ragsh_probe:probe"
description = "sleeps a moment and records how many calls overlap"

[agents.helper]
model = "fake"
tools = ["read_file"]
description = "reads workspace files to answer"

[graphs.greet]
path = "greet.rag"
description = "greets a person by name"
"""

GREET = """\
graph greet {
  input { name: string }
  start hello
  channel greeting last

  node hello {
    kind model
    model "fake"
    prompt "greet {{ input.name }}"
    output greeting
    next END
  }
}
"""

PROBE = '''\
"""A tool that records the peak number of its calls running at once."""
import threading
import time

_lock = threading.Lock()
STATE = {"now": 0, "peak": 0, "calls": 0}


def probe(n: int) -> str:
    """Sleep a moment; return the call's number.

    Args:
        n: a number to echo.
    """
    with _lock:
        STATE["now"] += 1
        STATE["calls"] += 1
        STATE["peak"] = max(STATE["peak"], STATE["now"])
    time.sleep(0.3)
    with _lock:
        STATE["now"] -= 1
    return f"probe {n}"
'''

LINES = [
    {"text": "Paris", "when": "capital of France"},
    {"json": {"score": 7}, "when": "rate this"},
    # replies that finish in the reverse order of their requests
    *({"text": f"answer {i}", "when": f"item {i}", "delay_ms": 60 * (4 - i)} for i in range(5)),
    {"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}], "when": "summarize notes"},
    {"text": "the notes say hello", "when": "summarize notes"},
    {"text": "hello Ann", "when": "greet Ann"},
    {"text": "hello Bob", "when": "greet Bob"},
    {"text": "late", "when": "slow question", "delay_ms": 5000},
]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (also the current directory) with the registry above."""
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "greet.rag").write_text(GREET, encoding="utf-8")
    (tmp_path / "fake.jsonl").write_text("".join(json.dumps(x) + "\n" for x in LINES), encoding="utf-8")
    (tmp_path / "ragsh_probe.py").write_text(PROBE, encoding="utf-8")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "notes.txt").write_text("hello\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside the workspace\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("ragsh_probe", None)
    return tmp_path


@pytest.fixture()
def registry(project: Path):
    from ragc.registry.loader import load_registry

    load = load_registry(project / "registry.toml", cwd=project)
    assert load.ok, [str(d) for d in load.diagnostics]
    return load.registry
