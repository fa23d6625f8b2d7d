"""Fixtures of the security tests: a workspace next to a secret it must
never reveal, the project's default run_command allowlist, and the harness
test servers (a real 127.0.0.1 HTTP server)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "harness"))
sys.path.insert(0, str(Path(__file__).parent))

from seckit import SECRET  # noqa: E402
from servers.http_server import ScriptedServer  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """``tmp_path/ws`` (the workspace) with ``out -> ../outside`` and
    ``secret_link -> ../outside/secret.txt``; ``tmp_path/outside/secret.txt``
    holds :data:`SECRET` and a Makefile that prints it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "Makefile").write_text("all:\n\t@cat secret.txt\n")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("# demo\n")
    (root / "out").symlink_to(outside)
    (root / "secret_link").symlink_to(outside / "secret.txt")
    return root


@pytest.fixture(autouse=True)
def _interpreter_on_path(monkeypatch):
    """Programs are found by name on PATH: put the test interpreter's
    directory first, as the harness tests do."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
