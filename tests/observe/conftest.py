"""Fixtures of the observability tests: the asyncio backend for anyio; the
workflow-test helpers (``wfkit``: scripted copies of the repository
registry) are importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
