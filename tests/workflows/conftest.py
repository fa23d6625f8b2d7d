"""Fixtures of the workflow tests: the asyncio backend for anyio, a scripted
copy of the repository registry, a tiny code base as the workspace, and a
spy on the requests the scripted models receive. Helpers are in
``wfkit.py``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from wfkit import Line, Request, make_code_base, scripted_registry  # noqa: E402

from ragc.harness.providers.scripted import ScriptedProvider  # noqa: E402
from ragc.harness.types import ModelRequest  # noqa: E402
from ragc.registry.model import Registry  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry(tmp_path: Path) -> Callable[..., Registry]:
    """``registry(default=[...], fast=[...], react=[...])``: the repository
    registry with scripted local models (scripts in ``tmp_path/scripts``)."""

    def make(**scripts: list[Line]) -> Registry:
        return scripted_registry(tmp_path / "scripts", **scripts)

    return make


@pytest.fixture
def code_base(tmp_path: Path) -> Path:
    """A tiny Python code base (``shop/``, tests, a README) in
    ``tmp_path/ws``, used as the workspace."""
    return make_code_base(tmp_path / "ws")


@pytest.fixture
def model_requests(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    """Every request the scripted models receive in this test, in order
    (after any ReAct rewriting; the real provider still answers it)."""
    seen: list[Request] = []
    original = ScriptedProvider.complete

    async def spy(self: ScriptedProvider, request: ModelRequest, **kw: Any) -> Any:
        seen.append(Request(self.name, request))
        return await original(self, request, **kw)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    return seen
