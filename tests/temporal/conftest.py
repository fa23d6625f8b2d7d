"""Fixtures of the Temporal tests: one dev server per session (a free port
on 127.0.0.1, its state in a temporary SQLite file), a client per test,
and an in-process worker on a task queue of the test's own.

Helpers are in ``tkit.py``. Each test module skips itself when the
``temporal`` extra (temporalio) is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "workflows"))

from ragc.temporal.devserver import DevServer  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory):
    """The session's dev server (headless)."""
    d = tmp_path_factory.mktemp("temporal")
    server = DevServer(d / "temporal.db", ui=False, log=d / "server.log").start()
    yield server
    server.stop()
