"""Long runs continue as new (``ragc.temporal.continuation``): with a low
``history_limit``, a loop of model nodes in the entry graph and one in a
subgraph's child workflow each go on over several workflow runs of the
same id, the run ends in the local engine's state, usage and step count,
with the activation ids it would have had in one run, and every run of
the chains replays with this code."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.importorskip("temporalio")

import ragc  # noqa: E402
import tkit  # noqa: E402

from ragc.temporal import client as tc  # noqa: E402

pytestmark = pytest.mark.anyio

LOOP = """
graph main {
  input {
    n: int
  }
  defaults {
    max_steps 500
  }
  channel rounds sum
  channel seen append
  channel got last
  start step
  node step {
    kind model
    model "fast"
    prompt "Tick {{ state.rounds }}"
    output seen
    command {
      update { rounds: 1 }
    }
    next gate
  }
  node gate {
    kind router
    routes {
      more -> step when state.rounds < input.n
      done -> sub
    }
  }
  node sub {
    kind subgraph
    graph "inner"
    input { n: input.n }
    output got
    next END
  }
}

graph inner {
  input {
    n: int
  }
  channel rounds sum
  channel seen append
  start step
  node step {
    kind model
    model "fast"
    prompt "Tick {{ state.rounds }}"
    output seen
    command {
      update { rounds: 1 }
    }
    next gate
  }
  node gate {
    kind router
    routes {
      more -> step when state.rounds < input.n
      done -> END
    }
  }
}
"""


async def _runs(client, wf_id: str) -> list[str]:
    """The statuses of the workflow runs of ``wf_id``, oldest first."""
    out = [(w.start_time, w.status.name) async for w in client.list_workflows(f"WorkflowId = '{wf_id}'")]
    return [s for _, s in sorted(out)]


async def _activities(client, wf_id: str) -> list[str]:
    """The activity ids scheduled over every run of ``wf_id``."""
    from temporalio.api.enums.v1 import EventType

    ids = []
    async for w in client.list_workflows(f"WorkflowId = '{wf_id}'"):
        async for ev in client.get_workflow_handle(wf_id, run_id=w.run_id).fetch_history_events():
            if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                ids.append(ev.activity_task_scheduled_event_attributes.activity_id)
    return ids


async def test_loops_continue_as_new_and_end_as_locally(tmp_path: Path, dev_server):
    from wfkit import scripted_registry

    n = 40

    def setup(base: Path):
        lines = [{"when": f"Tick {i}", "text": "t"} for i in range(n)] * 2  # the loop's and the subgraph's
        reg = scripted_registry(base / "scripts", fast=lines)
        (base / "loop.rag").write_text(LOOP, encoding="utf-8")
        return reg, ragc.load(base / "loop.rag", registry=reg, journal=None, workspace=base)

    (tmp_path / "l").mkdir()
    (tmp_path / "t").mkdir()
    _, wf = setup(tmp_path / "l")
    local = await wf.run({"n": n})
    assert local.status == "completed", local.error
    reg, wf = setup(tmp_path / "t")
    q = tkit.queue()
    rid = f"t-{uuid.uuid4().hex[:12]}"
    async with tkit.worker(dev_server.address, q, reg, workspace=tmp_path / "t") as client:
        await tc.start(client, wf.engine, {"n": n}, run_id=rid, task_queue=q, history_limit=60)
        res = await tc.wait(client, rid)
        assert res["status"] == "completed", res.get("error")
        root, child = await _runs(client, rid), await _runs(client, f"{rid}>sub#1")
        st = await tc.status(client, rid)
        acts, child_acts = await _activities(client, rid), await _activities(client, f"{rid}>sub#1")
        # every run of the chains replays with this code
        assert await tkit.replay(client, rid) == len(root)
        assert await tkit.replay(client, f"{rid}>sub#1") == len(child)
    assert res["state"] == local.state
    assert res["usage"] == local.usage
    assert st["status"] == "completed" and st["state"] == local.state
    # several runs of each workflow id: all but the last continued as new
    assert len(root) >= 3 and root[-1] == "COMPLETED" and set(root[:-1]) == {"CONTINUED_AS_NEW"}, root
    assert len(child) >= 3 and child[-1] == "COMPLETED" and set(child[:-1]) == {"CONTINUED_AS_NEW"}, child
    # every activation once, with the ids of a single run
    assert sorted(acts) == sorted(f"step#{i}" for i in range(1, n + 1))
    assert sorted(child_acts) == sorted(f"sub#1>step#{i}" for i in range(1, n + 1))
