"""Fixtures of the IR tests: the checker tests' registry and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragc.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tests" / "check"


@pytest.fixture(scope="session")
def test_registry():
    load = load_registry(CHECK / "registry.toml", cwd=CHECK)
    assert load.ok, load.diagnostics
    return load.registry
