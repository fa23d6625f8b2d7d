"""The Temporal driver of a run: the local driver with node I/O as activities.

:class:`TemporalRun` *is* :class:`ragc.runtime.scheduler.Run` (the local
driver) with three things replaced, so readiness, routing, limits, forks,
join policies and the branch-order merge are the same code on both engines
(:mod:`ragc.runtime.core`, :mod:`ragc.runtime.fanout`):

* the *execute* stage of an activation: a node that does I/O (``model``,
  ``agent``, ``subagent``, ``tool``, ``function``, a ``router`` with a
  ``function``) becomes one activity (:mod:`ragc.temporal.activities`),
  cancelled with its branch when a join fires; pure nodes (``router``
  conditions, ``join``, ``subgraph``) run in the workflow; an
  ``interrupt`` publishes its question and waits for the ``answer``
  update (its ``timeout``/``default`` are a workflow timer);
* the journal: there is none, the workflow history is it (completions are
  activity results; replay re-runs this code deterministically);
* the run's stop and deadline: asyncio tasks of the workflow's event loop
  instead of an anyio cancel scope;
* a subgraph, and a detached (``blocking false``) node: a child workflow
  (:mod:`ragc.temporal.children`) running :meth:`TemporalRun.execute_child`;
  inline, in this workflow, for a subgraph that has an ``interrupt`` and a
  detached ``interrupt``.

Everything here runs inside the workflow, so it must be deterministic: no
clock but the workflow's (``loop.time()``), no I/O, no randomness
(``tests/runtime/test_core_determinism.py`` checks the core; the branch
tasks of :mod:`ragc.runtime.fanout` run on the workflow's loop).

Budgets: an activity checks the run's limits against the usage counted
when the node started, and the workflow adds its usage when it completes;
branches running at the same time may overshoot a budget by their
in-flight calls (locally, branches share the counters live).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Callable

from ragc.runtime import core
from ragc.runtime.activation import Activation, NodeOutput
from ragc.runtime.compiled import ERRORS_CHANNEL, CNode
from ragc.runtime.errors import RunError, RunFatal, RunStop
from ragc.runtime.frames import Frame
from ragc.runtime.limits import run_attempts, to_run_error
from ragc.runtime.scheduler import Run, RunOutcome
from ragc.temporal import NODE_ACTIVITY, WORKFLOW_NAME
from ragc.temporal.children import adopt_scopes, apply_child, child_id, child_request, child_result, runs_inline
from ragc.temporal.continuation import ContinueAsNew, restore, snapshot
from ragc.temporal.payloads import decode_output, node_refs, ref_of, scope_dict

REMOTE_KINDS = frozenset({"model", "agent", "subagent", "tool", "function", "repl"})
"""Node kinds whose every activation is an activity (a ``repl`` node's whole
CodeAct loop, its model turns and cells, is one activity)."""

LOCAL_KINDS = frozenset({"function", "router"})
"""Kinds run as *local* activities (on the worker that runs the workflow
task, recorded as a marker: a few ms instead of a round trip through the
task queue): ``function`` nodes and ``router`` nodes with a ``function``
(registry Python functions, short by contract). Model, agent and tool calls
are regular activities: they heartbeat, can move to another worker and are
cancelled through the server."""

MAX_ACTIVITY_ATTEMPTS = 20
"""Attempts Temporal makes of one node activity (lost workers, heartbeat
timeouts) before the node fails with ``E0909``."""

DEFAULT_NODE_TIMEOUT_S = 3600.0
"""Start-to-close timeout of a node activity without a ``timeout`` (seconds)."""


class TemporalRun(Run):
    """One run inside the workflow (see module docs).

    Args:
        prog, run_id, input, caps, policy_scopes: as :class:`Run`.
        request: the workflow input (:func:`ragc.temporal.payloads.run_request`).
        execute_activity: ``temporalio.workflow.execute_activity``;
            execute_local_activity: ``...execute_local_activity`` (for
            :data:`LOCAL_KINDS`; ``None``: regular activities for all).
        wait_condition: ``temporalio.workflow.wait_condition``.
        answers: the workflow's answers by interrupt activation (the
            ``answer`` update fills it).
        execute_child_workflow: ``temporalio.workflow.execute_child_workflow``
            (``None``: subgraphs and detached nodes run inline).
        continue_as_new: ``() -> bool``, whether the workflow run should
            continue as new now
            (:class:`ragc.temporal.continuation.HistoryGauge`; ``None``: never).
    """

    def __init__(self, prog: Any, *, run_id: str, input: dict[str, Any], caps: Any, policy_scopes: tuple,
                 request: dict[str, Any], execute_activity: Callable[..., Any], wait_condition: Callable[..., Any],
                 answers: dict[str, Any], execute_local_activity: Callable[..., Any] | None = None,
                 execute_child_workflow: Callable[..., Any] | None = None,
                 continue_as_new: Callable[[], bool] | None = None):
        super().__init__(prog, run_id=run_id, input=input, caps=caps, policy_scopes=policy_scopes)
        self.request = request
        self._execute_activity = execute_activity
        self._execute_local_activity = execute_local_activity or execute_activity
        self._wait_condition = wait_condition
        self._execute_child = execute_child_workflow
        self._due = continue_as_new
        self._t0 = 0.0
        self._leg_steps = 0
        self.answers = answers
        self.pending: dict[str, dict[str, Any]] = {}
        self.activities = 0
        self._main: asyncio.Task | None = None
        from temporalio.common import RetryPolicy

        # Temporal retries an activity for a lost worker, a heartbeat timeout or a bug in the activity
        # (a node's own failure is a result, retried by its `retry` inside the activity)
        self._retry = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                                  maximum_interval=timedelta(seconds=5), maximum_attempts=MAX_ACTIVITY_ATTEMPTS)
        self._heartbeat = timedelta(seconds=float(request.get("heartbeat_s") or 2.0))

    # ------------------------------------------------------------------ the run

    async def execute(self) -> RunOutcome:
        """Run the entry graph to its end (interrupts wait inside), from
        the request's ``resume`` snapshot in a continued run.

        Raises:
            ContinueAsNew: the history is long: continue in a new run.
        """
        g = self.prog.entry
        assert g is not None
        loop = asyncio.get_running_loop()
        resume = self.request.get("resume")
        if resume is not None:  # a continued run (ragc.temporal.continuation)
            root = restore(self, resume, g, input=self.input)
            start, elapsed = resume["node"], float(resume["elapsed"])
        else:
            root = Frame(g, self.initial_values(g, self.input), input=self.input, scopes=self.base_scopes)
            start, elapsed = None, 0.0
        self.root = root
        self._t0 = loop.time() - elapsed
        self._leg_steps = self.counters.steps
        status, error = "completed", None
        main = self._main = loop.create_task(self.run_graph(g, root, start))
        deadline = self.caps.deadline_s
        done, _ = await asyncio.wait([main], timeout=max(deadline - elapsed, 0.0) if deadline is not None else None)
        if not done:
            main.cancel()
            await asyncio.wait([main])
            if self._stop is None:
                status = "failed"
                error = RunError("E0906", f"the run passed its deadline of {deadline:g}s", kind="deadline",
                                 span=g.ir.span, hint="raise `deadline` in the graph's `defaults`")
        elif main.cancelled():
            status = "failed"
        else:
            exc = main.exception()
            if isinstance(exc, ContinueAsNew):
                raise exc
            if isinstance(exc, RunError):
                status, error = "failed", exc
            elif isinstance(exc, RunFatal):
                status, error = "failed", exc.error
            elif exc is not None:  # a bug: fail the run (not the workflow task, which would retry forever)
                status = "failed"
                error = RunError("E0909", f"internal error: {type(exc).__name__}: {exc}", kind="internal",
                                 hint="this is a bug in ragc; the worker's log has the details")
        stop = self._stop
        if isinstance(stop, RunFatal):
            status, error = "failed", stop.error
        elif stop is not None and error is None:
            status = "failed"
            error = RunError("E0909", f"the run stopped: {type(stop).__name__}", kind="internal")
        return RunOutcome(status, root.values, self.result, error, None, self.usage(), self.steps)

    async def execute_child(self, child: dict[str, Any]) -> dict[str, Any]:
        """Run what a child workflow runs (``child``: the ``child`` part of
        :func:`~ragc.temporal.children.child_request`): a subgraph from its
        start, or one activation of a detached node; returns
        :func:`~ragc.temporal.children.child_result`. Cancelling this (the
        parent cancelled the child) cancels its activities and re-raises
        ``CancelledError``.

        Raises:
            ContinueAsNew: the child's history is long (a subgraph only).
        """
        depth = int(child["depth"])
        resume = self.request.get("resume")  # a continued child restores its scopes from the snapshot
        chain = adopt_scopes(self, child) if resume is None else ()
        if "node" in child:
            self._due = None  # one activation: nothing to continue from
            cn = node_refs(self.prog)[child["node"]]
            frame = Frame(cn.graph, dict(child["values"]), input=child["input"], prefix=child["prefix"],
                          vars=child["vars"], log=[], depth=depth, scopes=chain)
            work: Any = self.activate(frame, cn, int(child["visit"]))
            what = f"node `{cn.name}`"
        else:
            g = self.prog.graphs[child["graph"]]
            if resume is not None:  # a continued child (ragc.temporal.continuation)
                frame = restore(self, resume, g, input=child["input"], prefix=child["prefix"], depth=depth)
                self._t0 = asyncio.get_running_loop().time() - float(resume["elapsed"])
                work = self.run_graph(g, frame, resume["node"])
            else:
                frame = Frame(g, self.initial_values(g, child["input"]), input=child["input"],
                              prefix=child["prefix"], depth=depth, scopes=chain)
                self._t0 = asyncio.get_running_loop().time()
                work = self.run_graph(g, frame)
            what = f"subgraph `{g.name}`"
        self.root = frame
        self._leg_steps = self.counters.steps
        main = self._main = asyncio.get_running_loop().create_task(work)
        try:
            await asyncio.wait([main])
        except asyncio.CancelledError:
            main.cancel()
            await asyncio.wait([main])
            raise
        stop = self._stop
        if isinstance(stop, RunFatal):
            return child_result(self, child, error=stop.error, fatal=True)
        if main.cancelled():
            return child_result(self, child, fatal=True, error=RunError(
                "E0909", f"the {what} stopped: {type(stop).__name__}", kind="internal"))
        exc = main.exception()
        if isinstance(exc, ContinueAsNew):
            raise exc
        if isinstance(exc, RunFatal):
            return child_result(self, child, error=exc.error, fatal=True)
        if isinstance(exc, RunError):
            return child_result(self, child, error=exc)
        if exc is not None:  # a bug: fail the node (not the workflow task, which would retry forever)
            return child_result(self, child, error=RunError(
                "E0909", f"internal error in {what}: {type(exc).__name__}: {exc}", kind="internal",
                hint="this is a bug in ragc; the worker's log has the details"))
        if "node" in child:
            return child_result(self, child, ok={"log": [[ch, v] for ch, v in frame.log or ()],
                                                 "result": self.result})
        return child_result(self, child, ok={"output": self.output_of(frame.graph, frame)})

    async def _start_child(self, req: dict[str, Any], act_id: str, attempt: int = 1) -> dict[str, Any]:
        """Run child workflow ``req`` for activation ``act_id`` to its end;
        its result once counted (:func:`~ragc.temporal.children.apply_child`)."""
        from temporalio.workflow import ParentClosePolicy

        start = self._execute_child
        assert start is not None
        res = await start(WORKFLOW_NAME, req, id=child_id(self.run_id, act_id, attempt),
                          parent_close_policy=ParentClosePolicy.REQUEST_CANCEL)
        return apply_child(self, req["child"], res)

    async def run_subgraph(self, act: Activation, key: str, sub_input: Any) -> Any:
        """Run graph ``key`` for subgraph activation ``act`` as a child
        workflow (inline when it has an ``interrupt``, or without
        ``execute_child_workflow``); returns its output.

        Raises:
            RunError: as :meth:`Run.run_subgraph` (the child's failure
                included); RunFatal: the child hit a run-wide limit.
        """
        frame = self.subgraph_frame(act, key, sub_input)
        if self._execute_child is None or runs_inline(self.prog, key):
            await self.run_graph(frame.graph, frame)
            return self.output_of(frame.graph, frame)
        res = await self._start_child(child_request(self, frame, key=key), act.id, act.attempt)
        return res["output"]

    async def _detached(self, d: Frame, cn: CNode, visit: int) -> None:
        """A detached node's activation as a child workflow whose write log
        merges into the root frame when it ends (a failure goes to the
        ``errors`` channel), as locally. Inline (a task of this workflow)
        for an ``interrupt`` (the run's workflow takes the answer) and a
        ``subgraph`` node (its subgraph is a child workflow already)."""
        if self._execute_child is None or cn.kind in ("interrupt", "subgraph"):
            await super()._detached(d, cn, visit)
            return
        root = d.root
        try:
            res = await self._start_child(child_request(self, d, node=cn, visit=visit), f"{d.prefix}{cn.name}#{visit}")
        except RunError as e:
            root.write(ERRORS_CHANNEL, e.error_entry())
            return
        except RunStop as e:
            self.request_stop(e)
            return
        except Exception as exc:  # noqa: BLE001 - the child workflow itself failed: as a bug in a detached task locally
            err = RunError("E0909", f"internal error in detached node `{cn.name}`: {type(exc).__name__}: {exc}",
                           node=cn.name, kind="internal")
            root.write(ERRORS_CHANNEL, err.error_entry())
            return
        self.result = res.get("result")
        for ch, val in res.get("log") or ():
            root.write(ch, val)

    def request_stop(self, exc: BaseException) -> None:
        """Stop the whole run (a run-wide limit raised in a branch)."""
        if self._stop is None:
            self._stop = exc
            if self._main is not None:
                self._main.cancel()

    async def commit_record(self, activation: str, record: Any) -> int:
        """No journal: the workflow history is the journal."""
        return 0

    # ------------------------------------------------------------------ activations

    async def activate(self, frame: Frame, cn: CNode, visit: int | None = None) -> tuple[str | None, Any, str]:
        """Admit (the core), execute (an activity, an update wait, or the
        pure executor in the workflow), apply (the core); returns
        ``(route label, result, activation id)``.

        Raises:
            RunError: a limit, or the node's failure without an ``error`` route.
            ContinueAsNew: before an activation of the top frame, when the
                history is long (nothing has been admitted then).
        """
        due = self._due
        if (due is not None and frame is self.root and visit is None and not frame.detached
                and self.counters.steps > self._leg_steps and due()):
            # (after one activation of this workflow run at least: every run of the chain makes progress)
            # a safe point (ragc.temporal.continuation): nothing else is in flight in this workflow
            raise ContinueAsNew(snapshot(self, frame, cn.name, asyncio.get_running_loop().time() - self._t0))
        act_id, visit = core.admit(self.counters, self.caps, frame, cn, visit)
        act = Activation(self, frame, cn, act_id, visit)
        error_entry = None
        try:
            if cn.kind == "interrupt":
                out = await self._interrupt(act)
            elif cn.kind in REMOTE_KINDS or (cn.kind == "router" and cn.ir.function):
                out = await self._remote(act)
            elif cn.kind == "subgraph" and cn.retry is not None and cn.retry.max_attempts > 1:
                # its `retry` as locally, each attempt a child (its `timeout` is not applied on Temporal)
                out = await run_attempts(act, cn.exec, retry=cn.retry, timeout_s=None)  # type: ignore[arg-type]
            else:
                out = await cn.exec(act)  # type: ignore[misc]
        except RunStop:
            raise
        except RunError as err:
            out, error_entry = self._failed(act, err)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - classified as the local engine does
            out, error_entry = self._failed(act, to_run_error(act, e))
        try:
            label, _, _ = core.apply_completion(frame, cn, act_id, out, error_entry)
        except RunError:
            raise
        except Exception as e:  # noqa: BLE001 - an `update` expression failed: the node failed
            raise to_run_error(act, e) from None
        self.result = out.result
        return label, out.result, act_id

    def node_request(self, act: Activation) -> dict[str, Any]:
        """The activity input of ``act`` (see :mod:`ragc.temporal.payloads`)."""
        f, cn = act.frame, act.node
        req = self.request
        return {"run_id": self.run_id, "ir_hash": req["ir_hash"], "ref": ref_of(self.prog, cn), "act": act.id,
                "visit": act.visit, "values": f.values, "vars": f.vars, "input": f.input, "prefix": f.prefix,
                "depth": f.depth, "error": f.error, "join_result": list(f.join_result) if f.join_result else None,
                "scopes": [scope_dict(s) for s in self.scopes_for(f, cn)],
                "registry": req.get("registry"), "workspace": req.get("workspace"),
                "untrusted": req.get("untrusted", False)}

    async def _remote(self, act: Activation) -> NodeOutput:
        cn = act.node
        timeout = self.timeout_for(cn)
        attempts = cn.retry.max_attempts if (cn.retry is not None and not cn.self_retry) else 1
        # the activity runs the node's own attempts; its start-to-close bounds them all
        limit = (timeout * max(attempts, 1) + 60.0) if timeout is not None else DEFAULT_NODE_TIMEOUT_S
        self.activities += 1
        if cn.kind in LOCAL_KINDS:
            res = await self._execute_local_activity(NODE_ACTIVITY, self.node_request(act), activity_id=act.id,
                                                     start_to_close_timeout=timedelta(seconds=limit),
                                                     retry_policy=self._retry)
        else:
            res = await self._execute_activity(NODE_ACTIVITY, self.node_request(act), activity_id=act.id,
                                               start_to_close_timeout=timedelta(seconds=limit),
                                               heartbeat_timeout=self._heartbeat, retry_policy=self._retry)
        usage = res.get("usage")
        if usage:
            for s in self.scopes_for(act.frame, cn):
                s.add(usage)
        if "ok" in res:
            return decode_output(res["ok"])
        err = RunError.from_dict(res["error"])
        err.retryable = bool(res.get("retryable"))
        if err.span is None:
            err.span = cn.span
        if res.get("fatal"):
            raise RunFatal(err)
        raise err

    async def _interrupt(self, act: Activation) -> NodeOutput:
        """Publish the question, wait for an answer (the ``answer`` update)
        or, after ``timeout``, take ``default``."""
        from ragc.runtime.expressions import compile_optional

        cn = act.node
        ir = cn.ir
        routed = cn.chooser == "human"
        if act.id not in self.answers:
            prompt = compile_optional(ir.prompt)
            question = str(prompt(act.scope)) if prompt is not None else f"answer for `{cn.name}`"
            loop = asyncio.get_running_loop()
            timeout = ir.timeout_s
            self.pending[act.id] = {"activation": act.id, "node": cn.name, "question": question,
                                    "options": list(ir.options), "default": ir.default,
                                    "deadline": (loop.time() + timeout) if timeout else None}
            try:
                got = True
                if timeout and ir.default is not None:
                    try:
                        await self._wait_condition(lambda: act.id in self.answers, timeout=timeout)
                    except asyncio.TimeoutError:
                        got = False
                else:
                    await self._wait_condition(lambda: act.id in self.answers)
                if not got:
                    self.answers[act.id] = ir.default
            finally:
                self.pending.pop(act.id, None)
        answer = self.answers[act.id]
        return NodeOutput(answer, str(answer) if routed else None)
