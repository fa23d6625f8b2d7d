"""Node executions that do I/O, as Temporal activities.

One activity type, :data:`ragc.temporal.NODE_ACTIVITY`, runs one activation
of a ``model``, ``agent``, ``subagent``, ``tool`` or ``function`` node (and
a ``router`` with a registry ``function``) on the worker, with the local
engine's executor and attempt loop (:func:`ragc.runtime.limits.run_attempts`:
node ``retry`` and ``timeout`` behave as locally). The workflow applies the
returned output through the scheduling core.

Exactly once: a completed activity is in the run's history and never runs
again. Inside an activity, every model and tool call is recorded in the
activity's heartbeat details as soon as it returns (the
:class:`~ragc.harness.types.EffectLog` of the local engine, with heartbeats
instead of the SQLite journal); when a worker dies and Temporal retries the
activity on another worker, the calls recorded in the last heartbeat that
reached the server are served from it instead of being made again. The SDK
sends heartbeats at most every 0.8 × the heartbeat timeout, so a call that
returned less than that before a crash may be repeated.

Cancellation: the activity heartbeats every :data:`HEARTBEAT_EVERY_S`
seconds in the background; when the workflow cancels it (a join fired, the
run was cancelled), the next heartbeat's answer cancels the executor's
task, in-flight HTTP calls included.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragc.runtime.activation import Activation
from ragc.runtime.budget import BudgetScope
from ragc.runtime.errors import RunError, RunFatal, RunStop
from ragc.runtime.frames import Frame
from ragc.runtime.limits import run_attempts, to_run_error
from ragc.runtime.records import Effect, decode
from ragc.runtime.scheduler import Run
from ragc.temporal import NODE_ACTIVITY
from ragc.temporal.context import WorkerContext
from ragc.temporal.payloads import MAX_RESULT_BYTES, encode_output, node_refs, size_of

HEARTBEAT_EVERY_S = 0.5
"""How often a running node activity heartbeats (seconds)."""


class _HeartbeatLog:
    """The recorder an activity's :class:`~ragc.runtime.replay.ActivationEffects`
    writes to: effects go into the heartbeat details (not for a local
    activity, which does not heartbeat)."""

    def __init__(self, recorded: list[dict[str, Any]], beat: bool = True):
        self.items = list(recorded)
        self.beat = beat

    async def record(self, kind: str, activation: str, payload: Any) -> int:
        self.items.append(payload)
        if self.beat:
            activity.heartbeat(self.items)
        return len(self.items)


class _ActivityRun(Run):
    """The run an executor sees inside an activity: the worker's harness
    for the run, the scopes' counters at the node's start, and the calls
    an earlier attempt of this activity recorded."""

    def __init__(self, cprog: Any, *, run_id: str, input: Any, harness: Any, caps: Any, ledger: Any,
                 scopes: tuple[BudgetScope, ...], log: _HeartbeatLog, act_id: str):
        super().__init__(cprog, run_id=run_id, input=input, harness_factory=lambda: harness, caps=caps)
        self.sources = ledger
        self._scopes = scopes
        self.recorder = log  # type: ignore[assignment]
        effects: dict[str, Effect] = {}
        for p in log.items:
            eff = decode(Effect.KIND, p, seq=0, activation=act_id)
            effects[eff.key] = eff  # type: ignore[union-attr]
        self._effects = effects

    def scopes_for(self, frame: Frame, cn: Any) -> tuple[BudgetScope, ...]:
        return self._scopes

    def recorded_effects(self, activation: str) -> dict[str, Effect] | None:
        return self._effects or None


class NodeActivities:
    """The activities of one worker.

    Args:
        ctx: the worker's registry and caches (:class:`WorkerContext`).
        client: the worker's ``temporalio.client.Client`` (to read a run's
            IR from its first history event, once per IR hash).
    """

    def __init__(self, ctx: WorkerContext, client: Any):
        self.ctx = ctx
        self.client = client

    async def _ir(self, ir_hash: str) -> str:
        ir = self.ctx.irs.get(ir_hash)
        if ir is not None:
            return ir
        info = activity.info()
        handle = self.client.get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
        async for ev in handle.fetch_history_events():
            attrs = ev.workflow_execution_started_event_attributes
            (req,) = await self.client.data_converter.decode(attrs.input.payloads)
            ir = req["ir"]
            break
        if ir is None:
            raise ApplicationError("the run's first history event holds no IR", non_retryable=True)
        self.ctx.irs[ir_hash] = ir
        return ir

    @activity.defn(name=NODE_ACTIVITY)
    async def node(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run one activation (``req``: :func:`ragc.temporal.interpreter.TemporalRun.node_request`).

        Returns:
            ``{"ok": output, "usage": ...}`` or ``{"error": RunError dict,
            "retryable", "usage": ...}`` (``"fatal": true`` when it must
            stop the run; ``retryable``: whether an enclosing subgraph
            node's ``retry`` may try again, as ``RunError.retryable``).
            A failure of the node is a *result*, not an activity failure:
            Temporal retries only lost workers and timeouts.
        """
        info = activity.info()
        details = list(info.heartbeat_details or ())
        log = _HeartbeatLog(details[0] if details and isinstance(details[0], list) else [], not info.is_local)
        act_id = req["act"]
        try:
            ir_json = await self._ir(req["ir_hash"])
            eng = self.ctx.engine(ir_json, req["ir_hash"], req)
        except RunError as e:
            return {"error": e.to_dict(), "fatal": True}
        cn = node_refs(eng.cprog)[req["ref"]]
        g = cn.graph
        frame = Frame(g, dict(req["values"]), input=req["input"], prefix=req["prefix"], vars=req["vars"],
                      depth=req.get("depth", 0))
        frame.error = req.get("error")
        jr = req.get("join_result")
        frame.join_result = (jr[0], jr[1]) if jr else None
        scopes = tuple(BudgetScope(**s) for s in req["scopes"])
        run = _ActivityRun(eng.cprog, run_id=req["run_id"], input=req["input"],
                           harness=self.ctx.harness(req["run_id"], eng), caps=eng.caps,
                           ledger=self.ctx.ledger(req["run_id"]), scopes=scopes, log=log, act_id=act_id)
        act = Activation(run, frame, cn, act_id, req["visit"])
        timeout, direct = run._plan(cn)
        # a local activity (function nodes) does not heartbeat: it runs beside the workflow task
        beat = asyncio.get_running_loop().create_task(_beat(log)) if not info.is_local else None
        try:
            if direct:
                out = await cn.exec(act)
            else:
                out = await run_attempts(act, cn.exec, retry=cn.retry, timeout_s=timeout)
        except RunFatal as e:
            return {"error": e.error.to_dict(), "fatal": True, "usage": act.recorded_usage()}
        except RunStop as e:
            return {"error": RunError("E0909", f"node `{cn.name}` stopped the run ({type(e).__name__})",
                                      kind="internal").to_dict(), "fatal": True}
        except RunError as e:
            return {"error": e.to_dict(), "retryable": e.retryable, "usage": act.recorded_usage()}
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - classified like the local engine does
            err = to_run_error(act, e)
            return {"error": err.to_dict(), "retryable": err.retryable, "usage": act.recorded_usage()}
        finally:
            if beat is not None:
                beat.cancel()
        enc = encode_output(out)
        n = size_of(enc)
        if n > MAX_RESULT_BYTES:
            err = RunError("E0934", f"the result of node `{cn.name}` is {n} bytes of JSON, over the "
                                    f"{MAX_RESULT_BYTES} bytes a Temporal payload may carry", node=cn.name,
                           activation=act_id, kind="output",
                           hint="keep large values outside the run state (write a file with a tool and pass "
                                "its path)")
            return {"error": err.to_dict(), "usage": act.recorded_usage()}
        return {"ok": enc, "usage": act.recorded_usage()}


async def _beat(log: _HeartbeatLog) -> None:
    while True:
        activity.heartbeat(log.items)
        await asyncio.sleep(HEARTBEAT_EVERY_S)
