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


@pytest.mark.parametrize("name", ["approval_flow", "plan_and_execute", "subgraphs"])
async def test_workflows_continued_often_end_as_locally(name, tmp_path: Path, dev_server):
    """Workflows of the parity test (an approval loop answered twice, a
    plan/act/verify loop, subgraphs with a join and detached nodes) with a
    history limit so low that every safe point continues as new."""
    from test_tp_parity import CASES, load, normal, setup

    case = CASES[name]
    reg, ws = setup(case, tmp_path / "local")
    wf = load(name, reg, ws)
    local = await wf.run(case["inputs"])
    for answer in case.get("answers", ()):
        local = await wf.resume(local.run_id, answer=answer)
    assert local.status == "completed", local.error

    reg2, ws2 = setup(case, tmp_path / "temporal")
    wf2 = load(name, reg2, ws2)
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, reg2, workspace=ws2) as client:
        res = await tkit.run_temporal(wf2, client, q, case["inputs"], history_limit=1)
        for answer in case.get("answers", ()):
            assert res["status"] == "interrupted", res.get("error")
            await tc.answer(client, res["run_id"], answer)
            res = await tc.wait(client, res["run_id"])
        runs = await _runs(client, res["run_id"])
        assert await tkit.replay(client, res["run_id"]) == len(runs)
    assert res["status"] == "completed", res.get("error")
    assert len(runs) >= 3 and set(runs[:-1]) == {"CONTINUED_AS_NEW"}, runs
    assert normal(res["output"], ws2) == normal(local.output, ws)
    assert normal(res["state"], ws2) == normal(local.state, ws)
    assert res["usage"]["steps"] == local.usage["steps"] or name == "subgraphs"


def test_the_cli_reads_the_history_limit_from_the_environment(monkeypatch):
    from ragc.cli.main import CliError
    from ragc.cli.temporal_cli import history_limit

    monkeypatch.delenv("RAGC_TEMPORAL_HISTORY_LIMIT", raising=False)
    assert history_limit() is None
    monkeypatch.setenv("RAGC_TEMPORAL_HISTORY_LIMIT", "2000")
    assert history_limit() == 2000
    for bad in ("0", "many", "-5"):
        monkeypatch.setenv("RAGC_TEMPORAL_HISTORY_LIMIT", bad)
        with pytest.raises(CliError, match="positive number of events"):
            history_limit()
