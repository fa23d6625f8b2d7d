"""Fixtures of the authoring tests: the workflow-test kit (``tests/workflows/wfkit.py``:
scripted registries, event collection) and a runner for a `.rag` text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tasks.py

from wfkit import Events, scripted_registry  # noqa: E402

import ragc  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def run_rag(tmp_path: Path):
    """``await run_rag(SOURCE, inputs, default=[...], fast=[...])``: write SOURCE
    to a file, load it against the repository registry with scripted local
    models, run it with a journal (a SQLite file in ``tmp_path``, so a run
    can be resumed); returns ``(result, events)``; ``run.workflow`` is the
    last loaded workflow."""

    async def run(source: str, inputs: dict[str, Any] | None = None, **scripts: Any):
        path = tmp_path / "wf.rag"
        path.write_text(source, encoding="utf-8")
        ws = tmp_path / "ws"
        ws.mkdir(exist_ok=True)
        reg = scripted_registry(tmp_path / "scripts", **scripts)
        wf = ragc.load(path, registry=reg, journal=tmp_path / "runs.sqlite", workspace=ws)
        run.workflow = wf
        events = Events()
        result = await wf.run(inputs or {}, on_event=events)
        return result, events

    return run
