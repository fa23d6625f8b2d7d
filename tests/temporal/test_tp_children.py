"""Subgraphs run as child workflows on Temporal (``ragc.temporal.children``):
the children exist on the server under ids derived from the run id and the
activation ids, nested subgraphs are children of children, the child of a
branch that loses its join is cancelled with its activity, a detached
node's child (a model node, a subgraph) completes before the run and its
writes merge, and ``ragc runs list``
does not list children. ``test_tp_parity.py`` checks that the run ends in
the local engine's state (``parity/subgraphs.rag``)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from test_tp_parity import CASES, load, normal, setup  # noqa: E402

from ragc.temporal import client as tc  # noqa: E402

pytestmark = pytest.mark.anyio


async def _types(client, wf_id: str) -> list[str]:
    return [ev["type"] for ev in await tc.history(client, wf_id)]


async def test_subgraphs_are_child_workflows(tmp_path: Path, dev_server):
    from temporalio.client import WorkflowExecutionStatus as S

    case = CASES["subgraphs"]
    reg, ws = setup(case, tmp_path)
    wf = load("subgraphs", reg, ws)
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, reg, workspace=ws) as client:
        res = await tkit.run_temporal(wf, client, q, case["inputs"])
        assert res["status"] == "completed", res.get("error")
        rid = res["run_id"]
        assert normal(res["state"]["drafts"], ws) == [{"text": "quick section"}]
        assert res["state"]["audit"]["line"] == "note on One page."
        assert res["state"]["tags"] == ["tag: page"]  # the detached `tag` merged when its child ended

        want = {f"{rid}>outline#1": S.COMPLETED, f"{rid}>outline#1>note#1": S.COMPLETED,
                f"{rid}>fan#1/0:angle#1": S.COMPLETED, f"{rid}>fan#1/0:angle#1>note#1": S.COMPLETED,
                f"{rid}>fan#1/1:angle#1": S.CANCELED, f"{rid}>audit#1": S.COMPLETED, f"{rid}>tag#1": S.COMPLETED}
        parents = {f"{rid}>outline#1>note#1": f"{rid}>outline#1",
                   f"{rid}>fan#1/0:angle#1>note#1": f"{rid}>fan#1/0:angle#1"}
        for wid, status in want.items():
            d = await client.get_workflow_handle(wid).describe()
            assert d.status == status, wid
            assert d.workflow_type == "ragc"
            assert d.parent_id == parents.get(wid, rid), wid

        root = await _types(client, rid)
        assert root.count("start_child_workflow_execution_initiated") == 5  # outline, two angles, tag, audit
        assert root.count("child_workflow_execution_completed") == 4
        assert root.count("child_workflow_execution_canceled") == 1
        # the root's own activities: `fan` and `wrap`; the subgraphs' nodes ran in the children
        assert root.count("activity_task_scheduled") == 2
        assert (await _types(client, f"{rid}>tag#1")).count("activity_task_completed") == 1
        # the loser's `draft` activity (a 4 s model call) was cancelled, not waited for
        loser = await _types(client, f"{rid}>fan#1/1:angle#1")
        assert "activity_task_cancel_requested" in loser and "activity_task_completed" not in loser
        assert "child_workflow_execution_started" not in loser  # it never reached its `note`

        # the histories replay with this code (ids and commands are deterministic)
        for wid in (rid, *want):
            assert await tkit.replay(client, wid) == 1, wid

        listed = {r["id"] for r in await tc.list_runs(client, limit=50)}
        assert rid in listed and not any(i.startswith(f"{rid}>") for i in listed)


LIMITS = """
graph main {
  defaults {
    max_steps STEPS
  }
  channel a last
  channel b last
  channel c last
  start one
  node one {
    kind subgraph
    graph "ask"
    input { q: "one" }
    output a
    next two
  }
  node two {
    kind subgraph
    graph "ask"
    input { q: "two" }
    output b
    next three
  }
  node three {
    kind subgraph
    graph "ask"
    input { q: "three" }
    output c
    next END
  }
}

graph ask {
  input {
    q: string
  }
  budget {
    max_model_calls CALLS
  }
  channel r last
  start m
  node m {
    kind model
    model "fast"
    prompt "Answer {{ input.q }}"
    output r
    max_visits VISITS
    next END
  }
}
"""


@pytest.mark.parametrize("steps,calls,visits,code", [(3, 5, 9, "E0901"), (100, 2, 9, None), (100, 5, 2, "E0902"),
                                                     (100, 5, 9, None)])
async def test_limits_count_the_activations_and_calls_of_children(tmp_path: Path, dev_server, steps, calls, visits,
                                                                  code):
    """``max_steps``, ``max_visits`` and a subgraph's ``budget`` count over
    the run, children included: the child starts from the parent's counters
    and the parent adds what the child used, so the run fails (or completes)
    as locally."""
    import ragc
    from wfkit import scripted_registry

    def engine(base: Path):
        lines = [{"when": f"Answer {q}", "text": f"answer {q}"} for q in ("one", "two", "three")]
        reg = scripted_registry(base / "scripts", fast=lines)
        rag = base / "limits.rag"
        text = LIMITS.replace("STEPS", str(steps)).replace("CALLS", str(calls)).replace("VISITS", str(visits))
        rag.write_text(text, encoding="utf-8")
        return reg, ragc.load(rag, registry=reg, journal="memory", workspace=base)

    (tmp_path / "l").mkdir()
    (tmp_path / "t").mkdir()
    _, wf = engine(tmp_path / "l")
    local = await wf.run({})
    reg2, wf2 = engine(tmp_path / "t")
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, reg2, workspace=tmp_path / "t") as client:
        res = await tkit.run_temporal(wf2, client, q, {})
        children = (await _types(client, res["run_id"])).count("start_child_workflow_execution_initiated")
    if code is not None:
        assert local.status == "failed" and local.error.code == code
    else:
        assert (local.status == "completed") == (calls >= 3 and visits >= 3), local.error
    assert res["status"] == local.status, res.get("error")
    if local.error is not None:
        assert res["error"]["code"] == local.error.code and res["error"]["node"] == local.error.node
        assert res["error"]["message"] == local.error.message
    assert res["state"] == local.state
    assert res["usage"]["model_calls"] == local.usage["model_calls"]
    assert res["usage"]["steps"] == local.usage["steps"]
    assert children == (2 if steps == 3 else 3)


GATE = """
graph main {
  channel got last
  start call
  node call {
    kind subgraph
    graph "gate"
    output got
    next END
  }
}

graph gate {
  channel answer last
  start ask
  node ask {
    kind interrupt
    prompt "Go?"
    options ["yes", "no"]
    output answer
    next END
  }
}
"""


async def test_a_subgraph_with_an_interrupt_runs_inline_and_is_answered(tmp_path: Path, dev_server):
    """The ``answer`` update and the ``status`` query address the run's
    workflow, so a subgraph that asks a question runs in it, not as a child."""
    import ragc
    from ragc.registry.model import Registry

    (tmp_path / "g.rag").write_text(GATE, encoding="utf-8")
    wf = ragc.load(tmp_path / "g.rag", registry=Registry(), journal=None)
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, Registry()) as client:
        res = await tkit.run_temporal(wf, client, q, {})
        assert res["status"] == "interrupted" and res["interrupt"]["activation"] == "call#1>ask#1"
        await tc.answer(client, res["run_id"], "yes")
        res = await tc.wait(client, res["run_id"])
        assert res["status"] == "completed", res.get("error")
        assert res["state"]["got"]["answer"] == "yes"
        assert "start_child_workflow_execution_initiated" not in await _types(client, res["run_id"])


DETACHED = """
graph main {
  channel done last
  channel side last
  start first
  node first {
    kind function
    function "ok"
    output done
    next boom
  }
  node boom {
    kind function
    function "boom"
    output side
    blocking false
    next END
  }
}
"""


def ok() -> str:
    return "ok"


def boom() -> str:
    raise ValueError("the side job broke")


async def test_a_failed_detached_child_writes_its_error_as_locally(tmp_path: Path, dev_server):
    import ragc
    from ragc.registry.model import Registry

    fns = {"ok": ok, "boom": boom}
    (tmp_path / "d.rag").write_text(DETACHED, encoding="utf-8")
    wf = ragc.load(tmp_path / "d.rag", registry=Registry(), journal=None, functions=fns)
    local = await wf.run({})
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, Registry(), functions=fns) as client:
        res = await tkit.run_temporal(wf, client, q, {})
        d = await client.get_workflow_handle(f"{res['run_id']}>boom#1").describe()
    assert local.status == res["status"] == "completed"
    assert local.state["errors"] and "the side job broke" in local.state["errors"][0]["message"]
    assert res["state"] == local.state
    assert d.parent_id == res["run_id"]


RETRY = """
graph main {
  channel got last
  start call
  node call {
    kind subgraph
    graph "flaky"
    output got
    retry {
      max_attempts 3
      initial 100ms
    }
    next END
  }
}

graph flaky {
  channel r last
  start f
  node f {
    kind function
    function "flaky"
    output r
    next END
  }
}
"""


@pytest.mark.parametrize("fails", [1, 5])
async def test_a_subgraph_nodes_retry_holds_and_each_attempt_is_a_child(tmp_path: Path, dev_server, fails):
    """``fails``: attempts whose subgraph fails before one succeeds (5: all
    three fail). The outcome is the local one, and attempt k > 1 is the
    child ``RUN>call#1@k``."""
    import ragc
    from ragc.registry.model import Registry

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) <= fails:
            raise ValueError(f"flaky failure {len(calls)}")
        return f"ok after {len(calls)}"

    fns = {"flaky": flaky}
    (tmp_path / "r.rag").write_text(RETRY, encoding="utf-8")
    wf = ragc.load(tmp_path / "r.rag", registry=Registry(), journal=None, functions=fns)
    local = await wf.run({})
    local_calls = len(calls)
    calls.clear()
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, Registry(), functions=fns) as client:
        res = await tkit.run_temporal(wf, client, q, {})
        ids = {w.id async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{res['run_id']}>'")}
    assert res["status"] == local.status, res.get("error")
    assert res["state"] == local.state
    if local.error is not None:
        assert res["error"]["code"] == local.error.code
    attempts = min(fails + 1, 3)
    assert local_calls == len(calls) == attempts
    rid = res["run_id"]
    assert ids == {f"{rid}>call#1"} | {f"{rid}>call#1@{k}" for k in range(2, attempts + 1)}
