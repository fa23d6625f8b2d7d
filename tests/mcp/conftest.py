"""Fixtures of the MCP tests: real MCP servers written with the SDK's
FastMCP (``servers/notes_server.py``), over stdio and over streamable HTTP
on 127.0.0.1, and registry folders that grant them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcp_test_support import SERVER  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """``project(registry_text, {file: text})`` writes a registry folder with a
    scripted model script ``model.jsonl`` (given as a list of dicts) and returns it."""

    def make(registry: str, files: dict[str, Any] | None = None) -> Path:
        (tmp_path / "registry.toml").write_text(registry, encoding="utf-8")
        for name, content in (files or {}).items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, list):
                content = "".join(json.dumps(x) + "\n" for x in content)
            path.write_text(content, encoding="utf-8")
        return tmp_path

    return make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server():
    """A streamable-HTTP notes server on 127.0.0.1; yields its MCP endpoint URL."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # wait (bounded) until it accepts connections
            if proc.poll() is not None:
                raise RuntimeError("the MCP HTTP test server exited")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the MCP HTTP test server did not start")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
