"""Fixtures of the harness tests: asyncio backend, scripted 127.0.0.1 servers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers.http_server import ScriptedServer  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def server2():
    with ScriptedServer() as s:
        yield s
