"""Crashes with real processes: a ``ragc worker`` subprocess is SIGKILLed
in the middle of a fan-out (three branches answered, three still waiting on
the model server); a second worker started afterwards finishes the run.
The 127.0.0.1 model server counts calls: no completed call is made twice
(the answered branches and the dispatch are in the run's history), and the
calls the dead worker left in flight are made again (abandoned first, then
completed once)."""

from __future__ import annotations

import time

import anyio
import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

from ragc.temporal import client as tc  # noqa: E402

pytestmark = pytest.mark.anyio

FAST = [0, 2, 4]
SLOW_MS = 2500


async def test_a_worker_killed_mid_fan_out_is_replaced_and_no_completed_call_repeats(tmp_path, dev_server):
    items = [f"item {i} delay {100 if i in FAST else SLOW_MS}" for i in range(6)]
    with FakeOpenAI() as server:
        rag, reg = tkit.fan_workflow(tmp_path, server.url, "all")
        wf = tkit.load_file(rag, reg)
        q = tkit.queue()
        first = await tkit.WorkerProcess(dev_server.address, q, reg, tmp_path / "w1.log").ready()
        second = None
        try:
            client = await tc.connect(tc.Connection(address=dev_server.address))
            rid = f"crash-{int(time.time() * 1000)}"
            await tc.start(client, wf.engine, {"tasks": items}, run_id=rid, task_queue=q)
            with anyio.fail_after(20):
                while server.count("completed", "item ") < len(FAST) or server.count("started", "item ") < 6:
                    await anyio.sleep(0.05)
            await anyio.sleep(0.5)  # the fast branches' completions reach the server
            assert server.count("completed", "item ") == len(FAST), "the kill comes before any slow reply"
            first.kill()
            second = await tkit.WorkerProcess(dev_server.address, q, reg, tmp_path / "w2.log").ready()
            with anyio.fail_after(40):
                res = await tc.wait(client, rid)
        finally:
            first.kill()
            if second is not None:
                second.stop()
    assert res["status"] == "completed", res.get("error")
    assert res["state"]["answers"] == [f"done: {x}" for x in items]
    # every call completed exactly once, the dispatch and the decision included
    assert all(n == 1 for n in server.completed.values()), dict(server.completed)
    assert set(server.completed) == set(items) | {"dispatch", "decide"}
    # the slow calls were in flight when the worker died: made again by the second worker
    for i, x in enumerate(items):
        assert server.started[x] == (1 if i in FAST else 2), (x, server.started[x])


async def test_a_worker_killed_mid_agent_loop_is_replaced_and_no_completed_call_repeats(tmp_path, dev_server):
    """An agent node's model and tool calls are recorded in its activity's
    heartbeats: the replacement worker's retry of the activity serves the
    two completed model calls (and their tool calls) from them and makes
    only the call that was in flight."""
    for k in (0, 1):
        (tmp_path / f"notes{k}.txt").write_text(f"notes {k}\n", encoding="utf-8")
    task = "loop 2 delay 3000"
    with FakeOpenAI() as server:
        _, reg = tkit.fan_workflow(tmp_path, server.url, "all")
        rag = tmp_path / "agent.rag"
        rag.write_text((tkit.HERE / "agent.rag").read_text(encoding="utf-8"), encoding="utf-8")
        wf = tkit.load_file(rag, reg)
        q = tkit.queue()
        first = await tkit.WorkerProcess(dev_server.address, q, reg, tmp_path / "w1.log").ready()
        second = None
        try:
            client = await tc.connect(tc.Connection(address=dev_server.address))
            rid = f"agent-{int(time.time() * 1000)}"
            await tc.start(client, wf.engine, {"task": task}, run_id=rid, task_queue=q)
            with anyio.fail_after(20):
                while server.started[f"{task} #2"] < 1:
                    await anyio.sleep(0.05)
            # the SDK sends heartbeat details at most every 0.8 x the 2 s heartbeat timeout
            await anyio.sleep(2.0)
            assert server.completed[f"{task} #2"] == 0, "the kill comes while the third call is in flight"
            first.kill()
            second = await tkit.WorkerProcess(dev_server.address, q, reg, tmp_path / "w2.log").ready()
            with anyio.fail_after(40):
                res = await tc.wait(client, rid)
        finally:
            first.kill()
            if second is not None:
                second.stop()
    assert res["status"] == "completed", res.get("error")
    assert res["state"]["answer"] == "final"
    assert dict(server.completed) == {f"{task} #0": 1, f"{task} #1": 1, f"{task} #2": 1}
    assert server.started[f"{task} #0"] == 1 and server.started[f"{task} #1"] == 1
    assert server.started[f"{task} #2"] == 2, "the call in flight was made again"
    assert res["usage"]["model_calls"] == 3 and res["usage"]["tool_calls"] == 2
