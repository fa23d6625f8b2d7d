"""Quorum 3 of 10 on Temporal, against a real HTTP model server on
127.0.0.1: the join fires at the third completed answer, the run goes on
at once, and the seven losing branches' activities are cancelled: each of
their in-flight HTTP calls is abandoned by the client (the server sees the
connection close before its reply)."""

from __future__ import annotations

import time

import anyio
import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

pytestmark = pytest.mark.anyio

FAST = {2: 100, 5: 200, 7: 300}
SLOW_MS = 20000


async def test_quorum_fires_at_the_third_completion_and_the_losers_observe_cancellation(tmp_path, dev_server):
    items = [f"item {i} delay {FAST.get(i, SLOW_MS)}" for i in range(10)]
    with FakeOpenAI() as server:
        rag, reg = tkit.fan_workflow(tmp_path, server.url, "quorum 3")
        wf = tkit.load_file(rag, reg)
        q = tkit.queue()
        async with tkit.worker(dev_server.address, q, tkit.registry_of(reg), workspace=tmp_path) as client:
            t0 = time.monotonic()
            res = await tkit.run_temporal(wf, client, q, {"tasks": items})
            elapsed = time.monotonic() - t0
            assert res["status"] == "completed", res.get("error")
            # the three fastest, merged in branch order (not finishing order)
            assert res["state"]["answers"] == [f"done: item {i} delay {FAST[i]}" for i in sorted(FAST)]
            assert res["state"]["verdict"] == "done: decide"
            assert elapsed < 10, "the run did not wait for the 20 s losers"
            with anyio.fail_after(10):
                while server.count("abandoned", "item ") < 7:
                    await anyio.sleep(0.1)
        assert server.count("started", "item ") == 10
        assert server.count("completed", "item ") == 3
        losers = [k for k in server.abandoned if k.startswith("item ")]
        assert sorted(losers) == sorted(items[i] for i in range(10) if i not in FAST)
