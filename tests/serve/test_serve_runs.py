"""The run manager in process (a real SQLite journal, scripted models): a
telemetry sink that raises never fails a run; a workflow path outside the
root is refused."""

from __future__ import annotations

import shutil

import anyio
import pytest
from wfkit import WORKFLOWS, scripted_registry

from ragc.runtime.journal import SqliteStore
from ragc.serve.runs import RunManager, ServeError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _manager(tmp_path, sinks=()):
    root = tmp_path / "root"
    shutil.copytree(WORKFLOWS, root)
    (tmp_path / "ws").mkdir()
    (tmp_path / "secret.rag").write_text("graph secret { start a node a { kind model } }\n")
    store = SqliteStore(tmp_path / "runs.sqlite")
    reg = scripted_registry(tmp_path / "scripts", default=[{"text": "Draft"}])
    return RunManager(store, reg, None, root, workspace=str(tmp_path / "ws"), sinks=tuple(sinks)), store


async def test_a_failing_telemetry_sink_does_not_fail_runs(tmp_path, capsys):
    seen = []

    def broken(ev):
        raise ValueError("exporter down")

    manager, store = _manager(tmp_path, [broken, seen.append])
    async with anyio.create_task_group() as tg:
        manager.attach(tg)
        rid = await manager.start("approval_flow.rag", {"topic": "x"})
        await manager.wait(rid, 20)
    assert manager.get(rid).status == "interrupted"
    assert seen and type(seen[-1]).__name__ == "RunFinished", "the other sinks still got every event"
    err = capsys.readouterr().err
    assert err.count("telemetry sink function failed (ValueError: exporter down)") == 1
    store.close()


async def test_paths_outside_the_root_are_refused(tmp_path):
    manager, store = _manager(tmp_path)
    for path in ("../secret.rag", str(tmp_path / "secret.rag"), "approval_flow.txt", "nope.rag"):
        with pytest.raises(ServeError) as info:
            manager.workflow_path(path)
        assert info.value.status == 404
    assert "secret.rag" not in " ".join(manager.workflows())
    store.close()
