"""Helpers of the CLI tests: ``ragc`` run as a real subprocess, and the files
of a throw-away project (a scripted registry, a workflow)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REGISTRY = """
[models.default]
provider = "scripted"
script = "default.jsonl"

[tools.read_file]
builtin = "read_file"
"""

WORKFLOW = """
graph hello {
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


@dataclass
class Done:
    code: int
    out: str
    err: str


def ragc(*args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None) -> Done:
    """Run ``python -m ragc ARGS`` in ``cwd`` (no user config: XDG_CONFIG_HOME is ``cwd``'s)."""
    full_env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / ".no-config"), "NO_COLOR": "1",
                "COLUMNS": "200", **(env or {})}
    full_env.pop("RAGC_DEBUG", None)
    p = subprocess.run([sys.executable, "-m", "ragc", *args], cwd=cwd, env=full_env, capture_output=True,
                       text=True, input=input, timeout=120, check=False)
    return Done(p.returncode, p.stdout, p.stderr)


