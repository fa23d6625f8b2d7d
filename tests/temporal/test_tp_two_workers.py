"""Two ``ragc worker`` subprocesses on one task queue share a 100-branch
fan-out: every branch runs once, and both workers run branches (the
scripted provider logs the pid of the process that answered each call)."""

from __future__ import annotations

import json
import time

import anyio
import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from wfkit import write_script  # noqa: E402

from ragc.temporal import client as tc  # noqa: E402

pytestmark = pytest.mark.anyio

N = 100


async def test_two_workers_share_a_100_branch_fan_out(tmp_path, dev_server):
    write_script(tmp_path / "m.jsonl", [{"text": "ok", "delay_ms": 150, "repeat": True}])
    reg = tmp_path / "registry.toml"
    reg.write_text('[models.default]\nprovider = "scripted"\nscript = "m.jsonl"\n', encoding="utf-8")
    rag = tmp_path / "fan.rag"
    rag.write_text((tkit.HERE / "fan.rag").read_text(encoding="utf-8").replace("POLICY", "all"), encoding="utf-8")
    wf = tkit.load_file(rag, reg)
    calls = tmp_path / "calls.jsonl"
    q = tkit.queue()
    workers = [tkit.WorkerProcess(dev_server.address, q, reg, tmp_path / f"w{i}.log", RAGC_SCRIPTED_LOG=str(calls))
               for i in (1, 2)]
    try:
        for w in workers:
            await w.ready()
        client = await tc.connect(tc.Connection(address=dev_server.address))
        rid = f"two-{int(time.time() * 1000)}"
        await tc.start(client, wf.engine, {"tasks": [f"task {i}" for i in range(N)]}, run_id=rid, task_queue=q)
        with anyio.fail_after(60):
            res = await tc.wait(client, rid)
    finally:
        for w in workers:
            w.stop()
    assert res["status"] == "completed", res.get("error")
    assert res["state"]["answers"] == ["ok"] * N
    lines = [json.loads(x) for x in calls.read_text().splitlines()]
    branch = [x for x in lines if x["last_user"].startswith("task ")]
    assert sorted(x["last_user"] for x in branch) == sorted(f"task {i}" for i in range(N))
    pids = {w.proc.pid for w in workers}
    by_pid = {p: sum(1 for x in branch if x["pid"] == p) for p in pids}
    assert set(x["pid"] for x in branch) <= pids
    assert all(n > 0 for n in by_pid.values()), by_pid
