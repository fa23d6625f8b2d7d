"""The dev server is SIGKILLed while a run waits on an interrupt, and
started again on the same port and SQLite file: the run is still there,
still waiting, and ``ragc resume --answer`` completes it (the worker
subprocess reconnects by itself)."""

from __future__ import annotations

import uuid

import anyio
import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from wfkit import WORKFLOWS, write_scripted_registry_toml  # noqa: E402

from ragc.temporal import client as tc  # noqa: E402
from ragc.temporal.devserver import DevServer  # noqa: E402

pytestmark = pytest.mark.anyio

DRAFTS = [{"when": "about the restart", "text": "Draft one"}]


async def test_a_run_waiting_on_an_interrupt_survives_a_server_kill(tmp_path):
    reg = write_scripted_registry_toml(tmp_path, default=DRAFTS)
    ws = tmp_path / "ws"
    ws.mkdir()
    server = DevServer(tmp_path / "temporal.db", ui=False, log=tmp_path / "server.log").start()
    q = tkit.queue()
    rid = f"restart-{uuid.uuid4().hex[:8]}"
    conn = ("--temporal-address", server.address, "--task-queue", q)
    worker = await tkit.WorkerProcess(server.address, q, reg, tmp_path / "w.log").ready()
    try:
        r = await tkit.ragc_async("run", str(WORKFLOWS / "approval_flow.rag"), "--engine", "temporal", *conn,
                                  "--registry", str(reg), "--workspace", str(ws), "--input", "topic=the restart",
                                  "--run-id", rid, cwd=tmp_path)
        assert r.returncode == 3, r.stderr
        server.kill()
        server.start()
        client = await tc.connect(tc.Connection(address=server.address))
        st = await tc.status(client, rid)
        assert st["status"] == "interrupted" and st["state"]["drafts"] == ["Draft one"], st
        r = await tkit.ragc_async("resume", rid, "--answer", "publish", "--engine", "temporal", *conn, cwd=tmp_path,
                                  timeout=90)
        assert r.returncode == 0, r.stderr + (tmp_path / "w.log").read_text()
        assert (ws / "announcement.md").read_text(encoding="utf-8") == "Draft one"
    finally:
        worker.stop()
        server.stop()
