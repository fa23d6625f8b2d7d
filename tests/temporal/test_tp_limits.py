"""Edges of the mapping, with an in-process worker: an interrupt's
``timeout`` + ``default`` is a workflow timer (the run completes by itself
with the default), a join ``timeout`` too (same outcome as locally), and a
node result too large for a Temporal payload fails the node with ``E0934``
instead of the activity task."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio")

import ragc  # noqa: E402
import tkit  # noqa: E402

from ragc.registry.model import Registry  # noqa: E402

pytestmark = pytest.mark.anyio

WAIT = """
graph wait_default {
  channel answer last
  start ask
  node ask {
    kind interrupt
    prompt "Go?"
    options ["yes", "no"]
    timeout 1s
    default "no"
    output answer
    next END
  }
}
"""

BIG = """
graph big {
  channel blob last
  start make
  node make {
    kind function
    function "blob"
    output blob
    next END
  }
}
"""


def blob() -> str:
    return "x" * 2_000_000


async def test_an_unanswered_interrupt_takes_its_default_after_the_timeout(tmp_path, dev_server):
    (tmp_path / "w.rag").write_text(WAIT, encoding="utf-8")
    wf = ragc.load(tmp_path / "w.rag", registry=Registry(), journal=None)
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, Registry()) as client:
        res = await tkit.run_temporal(wf, client, q, {}, stop_on_interrupt=False)
    assert res["status"] == "completed", res.get("error")
    assert res["state"]["answer"] == "no"


async def test_a_result_too_large_for_history_fails_the_node_with_E0934(tmp_path, dev_server):
    (tmp_path / "b.rag").write_text(BIG, encoding="utf-8")
    wf = ragc.load(tmp_path / "b.rag", registry=Registry(), journal=None, functions={"blob": blob})
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, Registry(), functions={"blob": blob}) as client:
        res = await tkit.run_temporal(wf, client, q, {})
    assert res["status"] == "failed"
    assert res["error"]["code"] == "E0934" and "over the 1500000 bytes" in res["error"]["message"]


async def test_a_join_timeout_is_a_workflow_timer_with_the_local_outcome(tmp_path, dev_server):
    """``policy all tolerate 1 timeout 1s``: the slow branch is cancelled at
    the timer and counted as a tolerated failure, on Temporal as locally."""
    from fake_openai import FakeOpenAI

    items = ["item 0 delay 50", "item 1 delay 20000"]
    with FakeOpenAI() as server:
        rag, reg = tkit.fan_workflow(tmp_path, server.url, "all\n      tolerate 1\n      timeout 1s")
        local = await tkit.load_file(rag, reg).run({"tasks": items})
        assert local.status == "completed", local.error
        wf = tkit.load_file(rag, reg)
        q = tkit.queue()
        async with tkit.worker(dev_server.address, q, tkit.registry_of(reg), workspace=tmp_path) as client:
            res = await tkit.run_temporal(wf, client, q, {"tasks": items})
    assert res["status"] == "completed", res.get("error")
    assert res["state"]["answers"] == local.state["answers"] == ["done: item 0 delay 50"]
    assert res["state"]["errors"] == local.state["errors"]
    assert [e["error_kind"] for e in res["state"]["errors"]] == ["timeout"]
