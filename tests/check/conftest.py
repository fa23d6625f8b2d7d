"""Fixtures of the checker tests: the test registry (``tests/check/registry.toml``,
names of the corpus and the shared examples) and the repository's registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragc.registry.loader import load_registry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def test_registry():
    load = load_registry(HERE / "registry.toml", cwd=HERE)
    assert load.ok, load.diagnostics
    return load.registry


@pytest.fixture(scope="session")
def repo_registry():
    load = load_registry(ROOT / "registry.toml", cwd=ROOT)
    assert load.ok, load.diagnostics
    return load.registry
