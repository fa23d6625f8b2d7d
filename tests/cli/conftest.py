"""Fixtures of the CLI tests: a throw-away project (its own ``.git`` marks the
root, a scripted registry, a workflow in a subfolder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clikit import REGISTRY, WORKFLOW


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``tmp/proj`` with ``.git/``, ``registry.toml``, ``default.jsonl`` and ``sub/dir/hello.rag``."""
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / "registry.toml").write_text(REGISTRY)
    (root / "default.jsonl").write_text(json.dumps({"when": "Greet", "text": "Hello there"}) + "\n")
    sub = root / "sub" / "dir"
    sub.mkdir(parents=True)
    (sub / "hello.rag").write_text(WORKFLOW)
    return root


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """``tmp`` itself as the project: ``.git/``, ``registry.toml``, ``default.jsonl`` and ``hello.rag`` side by side."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "registry.toml").write_text(REGISTRY)
    (tmp_path / "default.jsonl").write_text(json.dumps({"when": "Greet", "text": "Hello there"}) + "\n")
    (tmp_path / "hello.rag").write_text(WORKFLOW)
    return tmp_path
