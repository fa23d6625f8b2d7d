"""The local driver of a run: frames as cursors, activations as coroutines.

One :class:`Run` executes one leg of a run (a first run, or a resume) of a
compiled program (:mod:`ragc.runtime.compiled`). Every decision -- the next
activation id and the limits, what a completion writes, where routing goes,
the branches of a fork, when a join fires and what it merges -- is taken by
the pure scheduling core (:mod:`ragc.runtime.core`); this module starts the
activations the core asks for on asyncio, feeds their results back, commits
the records (:mod:`ragc.runtime.records`) and emits events. Forks are driven
by :mod:`ragc.runtime.fanout`. Executors see a :class:`Run` only through the
:class:`~ragc.runtime.activation.Services` protocol. The model (architecture.md,
"Execution model"):

* A frame (:mod:`ragc.runtime.frames`) is a sequential cursor:
  :meth:`Run.run_frame` activates a node, applies its writes, follows its
  routing, and so on, until the branch ends (``END``, no routing) or
  arrives at its join (a join source completed, or the join target
  reached).
* A fork (``next [a, b]`` or ``send``) starts one child frame per branch as
  its own task; there are no supersteps -- every branch advances on its own,
  and the only barrier is the join (:mod:`ragc.runtime.joins`). When the
  join fires, pending branches are cancelled (with their in-flight model
  and tool calls), and the counted branches' write logs merge into the
  parent *in branch order*.
* Branch tasks are native asyncio tasks under the fork's own structured
  supervision (:mod:`ragc.runtime.fanout` says why not anyio task groups);
  anyio cancel scopes, timeouts and sleeps are used everywhere else.
* Every activation's completion (result, writes as deltas, routing label,
  usage) and every join outcome is committed to the journal before the
  frame goes on (:mod:`ragc.runtime.recorder`). On resume, a recorded
  activation is *applied* instead of run, a recorded join outcome fixes the
  winners, and an activation that was in flight runs again with its
  recorded model/tool calls served from the journal
  (:mod:`ragc.runtime.replay`).

Activation ids: ``<frame prefix><node>#<visit>``; a branch's prefix is
``<fork activation>/<branch index from 0>:``, a subgraph's is
``<subgraph node activation>>`` (``@k`` after the activation for retry
attempt k > 1). Visits are counted per frame, so ids are deterministic
whatever the timing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable

import anyio

from ragc import events as E
from ragc.harness.citations import SourceLedger
from ragc.ir.model import END
from ragc.runtime import core
from ragc.runtime.activation import Activation, NodeOutput
from ragc.runtime.budget import BudgetScope
from ragc.runtime.compiled import ERRORS_CHANNEL, R_NEXT, R_ROUTES, CGraph, CNode, CProgram
from ragc.runtime.core import FORK, Caps
from ragc.runtime.errors import InspectStop, InterruptStop, RunError, RunFatal, RunStop
from ragc.runtime.fanout import cancel_and_wait, run_fork
from ragc.runtime.frames import Frame
from ragc.runtime.inputs import validate_input
from ragc.runtime.limits import run_attempts, to_run_error
from ragc.runtime.recorder import Recorder
from ragc.runtime.records import Answer, Effect, InterruptAsked, NodeCompleted, TypedRecord
from ragc.runtime.replay import ReplayIndex

__all__ = ["Caps", "Run", "RunOutcome"]

_now = time.time
_perf = time.perf_counter


@dataclass
class RunOutcome:
    """The result of one leg: ``status`` is ``completed``, ``failed``,
    ``interrupted`` or ``inspected``; ``values`` the root state."""

    status: str
    values: dict[str, Any]
    result: Any = None
    error: RunError | None = None
    interrupt: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    steps: int = 0


class Run:
    """One execution leg of a run (see module docs).

    Args:
        prog: the compiled program.
        run_id: the run id.
        input: the validated run input.
        harness_factory: ``() -> Harness``, called on the first model, tool
            or agent node (``None``: such nodes fail with ``E0909``).
        recorder: the journal writer (``None``: no journal).
        replay: what was recorded before (resume), or ``None``.
        emit: the event sink (``None``: no events are built).
        caps: effective limits.
        policy_scopes: budget scopes of registry policies.
        inspect: replay only recorded activations, then stop (``ragc runs
            show`` rebuilds a finished run's state this way).
    """

    def __init__(self, prog: CProgram, *, run_id: str, input: dict[str, Any],
                 harness_factory: Callable[[], Any] | None = None, recorder: Recorder | None = None,
                 replay: ReplayIndex | None = None, emit: Callable[[E.Event], None] | None = None,
                 caps: Caps | None = None, policy_scopes: tuple[BudgetScope, ...] = (), inspect: bool = False):
        self.prog = prog
        self.run_id = run_id
        self.input = input
        self._harness_factory = harness_factory
        self._harness: Any = None
        self.recorder = recorder
        self.replay = replay if replay else None
        # the files the run's tools returned (the citation guard's evidence),
        # those of journaled calls included: a resumed run keeps its evidence
        self.sources = SourceLedger(replay.sources() if replay else ())
        self.emit = emit
        self.caps = caps or Caps()
        self.inspect = inspect
        entry = prog.entry
        assert entry is not None
        self.run_scope = BudgetScope.from_limits("the graph", entry.ir.budget)
        self.base_scopes: tuple[BudgetScope, ...] = (self.run_scope,) + tuple(s for s in policy_scopes if s.limited)
        self.node_scopes: dict[tuple[str, str], BudgetScope] = {}
        self.graph_scopes: dict[str, BudgetScope] = {}
        self.counters = core.Counters()
        self.result: Any = None
        self._stop: BaseException | None = None
        self._scope: anyio.CancelScope | None = None
        self._track = emit is not None or recorder is not None
        self._plans: dict[CNode, tuple[float | None, bool]] = {}

    # ------------------------------------------------------------------ services for executors

    def harness(self) -> Any:
        """The harness (created on first use).

        Raises:
            RunError: ``E0909`` when no harness can be created.
        """
        h = self._harness
        if h is None:
            if self._harness_factory is None:
                raise RunError("E0909", "this workflow calls models, tools or agents but no harness is available",
                               kind="config")
            try:
                h = self._harness = self._harness_factory()
                if self.replay is not None and hasattr(h, "restore"):
                    h.restore(self._recorded_replies())
            except RunError:
                raise
            except Exception as e:
                raise RunError("E0909", f"cannot set up models and tools: {type(e).__name__}: {e}",
                               kind="config", hint=getattr(e, "hint", None)) from None
        return h

    @property
    def steps(self) -> int:
        """Activations of this leg so far (replayed ones included)."""
        return self.counters.steps

    def _recorded_replies(self) -> list[Any]:
        """The journaled model replies of earlier legs of this run, in record order."""
        from ragc.harness.types import ModelResponse

        out = []
        for value in self.replay.model_replies() if self.replay is not None else ():
            try:
                out.append(ModelResponse.model_validate(value))
            except ValueError:
                continue
        return out

    async def aclose(self) -> None:
        """Release the harness."""
        h, self._harness = self._harness, None
        if h is not None:
            close = getattr(h, "aclose", None)
            if close is not None:
                await close()

    def answer_for(self, activation: str) -> tuple[bool, Any]:
        """``(True, answer)`` when an answer for interrupt ``activation`` is
        recorded (or was given to this resume), else ``(False, None)``."""
        rep = self.replay
        if rep is not None and activation in rep.answers:
            return True, rep.answers[activation]
        return False, None

    def recorded_interrupt(self, activation: str) -> InterruptAsked | None:
        """The journaled question of interrupt ``activation``, if any."""
        rep = self.replay
        return rep.interrupts.get(activation) if rep is not None else None

    async def commit_record(self, activation: str, record: TypedRecord) -> int:
        """Journal one typed record (no-op without a journal); returns its
        seq once it is durable.

        Raises:
            RunFatal: the journal write failed.
        """
        rec = self.recorder
        if rec is None:
            return 0
        return await rec.record(record.KIND, activation, record.encode())

    async def record_answer(self, activation: str, answer: Any, source: str) -> None:
        """Journal an interrupt answer and make it visible to the replay."""
        await self.commit_record(activation, Answer(answer, source))
        if self.replay is None:
            self.replay = ReplayIndex()
        self.replay.answers[activation] = answer

    def recorded_effects(self, activation: str) -> dict[str, Effect] | None:
        """The journaled model/tool calls of ``activation`` (by key), if any."""
        rep = self.replay
        return rep.effects.get(activation) if rep is not None else None

    def node_retrying(self, act: Activation, err: RunError, attempt: int, delay: float) -> None:
        """Report that ``attempt`` of ``act`` failed with ``err`` and the next
        one starts after ``delay`` seconds (events only)."""
        emit = self.emit
        if emit is not None:
            now = _now()
            emit(E.NodeFailed(self.run_id, now, act.node.name, act.id, err.message, err.kind, True))
            emit(E.NodeRetried(self.run_id, now, act.node.name, act.id, attempt + 1, delay, err.message))

    def request_stop(self, exc: BaseException) -> None:
        """Stop the whole run (an interrupt, or the end of an inspection)."""
        if self._stop is None:
            self._stop = exc
            if self._scope is not None:
                self._scope.cancel()

    # ------------------------------------------------------------------ state helpers

    def initial_values(self, g: CGraph, input: dict[str, Any]) -> dict[str, Any]:
        """Channel defaults; a channel named like an input field starts with
        the input's value (not copied: the frame does not own it)."""
        values = dict(g.defaults)
        for name in g.input_names:
            if name in values and input.get(name) is not None:
                values[name] = input[name]
        return values

    def output_of(self, g: CGraph, frame: Frame) -> Any:
        """The graph's output: its ``output`` channels, else the whole state."""
        if g.output is not None:
            return {ch: frame.values.get(ch) for ch in g.output}
        return dict(frame.values)

    def scopes_for(self, frame: Frame, cn: CNode) -> tuple[BudgetScope, ...]:
        """The budget scopes an activation of ``cn`` in ``frame`` counts against."""
        b = cn.ir.budget
        if b is None:
            return frame.scopes
        key = (cn.graph.key, cn.name)
        s = self.node_scopes.get(key)
        if s is None:
            s = self.node_scopes[key] = BudgetScope.from_limits(f"node `{cn.name}`", b)
        return frame.scopes + (s,)

    # ------------------------------------------------------------------ the run

    async def execute(self) -> RunOutcome:
        """Run the entry graph from ``start`` (replaying what is recorded)."""
        g = self.prog.entry
        assert g is not None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RunError("E0909", "the ragc runtime runs on anyio's asyncio backend", kind="config",
                           hint="use anyio.run(..., backend=\"asyncio\") (the default) or asyncio.run") from None
        root = Frame(g, self.initial_values(g, self.input), input=self.input, scopes=self.base_scopes)
        self.root = root
        status, error, interrupt = "completed", None, None
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self.caps.deadline_s is not None:
                scope.deadline = anyio.current_time() + self.caps.deadline_s
            try:
                await self.run_graph(g, root)
            except RunError as e:
                status, error = "failed", e
            except InterruptStop as e:
                status, interrupt = "interrupted", e.pending
            except InspectStop:
                status = "inspected"
            except RunFatal as e:
                status, error = "failed", e.error
        self._scope = None
        stop = self._stop
        if isinstance(stop, InterruptStop):
            status, interrupt, error = "interrupted", stop.pending, None
        elif isinstance(stop, InspectStop):
            status, error = "inspected", None
        elif isinstance(stop, RunFatal):
            status, error = "failed", stop.error
        elif scope.cancelled_caught and status == "completed":
            status = "failed"
            error = RunError("E0906", f"the run passed its deadline of {self.caps.deadline_s:g}s", kind="deadline",
                             span=g.ir.span, hint="raise `deadline` in the graph's `defaults`")
        return RunOutcome(status, root.values, self.result, error, interrupt, self.usage(), self.steps)

    def usage(self) -> dict[str, Any]:
        """Usage of the run so far (including replayed activations)."""
        s = self.run_scope
        return {"model_calls": s.model_calls, "tool_calls": s.tool_calls, "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens, "cost_usd": round(s.cost_usd, 10), "steps": self.steps}

    async def run_graph(self, g: CGraph, frame: Frame, start: str | None = None) -> None:
        """Run ``g`` from its start (or node ``start``) in root frame
        ``frame``, then wait for its detached nodes. Raises what the frame
        raises."""
        try:
            await self.run_frame(frame, start or g.start, None, None)
            await self._drain_detached(frame)
        finally:
            pending = frame.detached
            if pending:
                await cancel_and_wait(pending)
                pending.clear()

    async def _drain_detached(self, root: Frame) -> None:
        tasks = root.detached
        while tasks:
            t = tasks[0]
            await asyncio.wait((t,))
            tasks.remove(t)

    async def run_frame(self, frame: Frame, name: str, stop_target: str | None,
                        stop_sources: frozenset[str] | None) -> None:
        """Advance ``frame`` from node ``name`` until its branch ends or arrives."""
        nodes = frame.graph.nodes
        while True:
            if name == END or name == stop_target:
                return
            cn = nodes[name]
            if not cn.blocking:
                self._launch_detached(frame, cn)
                if cn.rkind == R_NEXT:
                    name = cn.next_target  # type: ignore[assignment]
                    continue
                return
            label, result, act_id = await self.activate(frame, cn)
            if stop_sources is not None and name in stop_sources:
                frame.source_done = True
                return
            name = core.next_node(cn, label)
            if name is FORK:
                name = await run_fork(self, frame, cn, act_id, result)

    # ------------------------------------------------------------------ activations

    async def activate(self, frame: Frame, cn: CNode, visit: int | None = None) -> tuple[str | None, Any, str]:
        """Run (or replay) one activation of ``cn`` in ``frame`` in four
        stages -- admit (limits, the id), execute (the executor, its retries
        and timeout), apply (writes and the route label, by the core),
        commit (the journal record) -- and return ``(route label, result,
        activation id)``.

        Raises:
            RunError: a limit, or the node's failure (after retries) when it
                has no ``error`` route.
        """
        act_id, visit = core.admit(self.counters, self.caps, frame, cn, visit)
        rep = self.replay
        if rep is not None:
            done = rep.completions.get(act_id)
            if done is not None:
                return self._apply_recorded(frame, cn, act_id, done)
        if self.inspect:
            raise InspectStop(act_id)
        emit = self.emit
        track = self._track
        t0 = _perf() if track else 0.0
        if emit is not None:
            emit(E.NodeStarted(self.run_id, _now(), cn.name, act_id, cn.kind))
        act = Activation(self, frame, cn, act_id, visit)
        # ---- execute: the executor (with its retries and attempt timeout); a
        # failure its `error` route takes becomes that route's output. Inline,
        # not a coroutine of its own: this runs once per activation.
        plan = self._plans.get(cn)
        if plan is None:
            plan = self._plan(cn)
        timeout, direct = plan
        error_entry = None
        try:
            if direct:
                out = await cn.exec(act)  # type: ignore[misc]
            else:
                out = await run_attempts(act, cn.exec, retry=cn.retry, timeout_s=timeout)  # type: ignore[arg-type]
        except RunStop:
            raise
        except RunError as err:
            out, error_entry = self._failed(act, err)
        except asyncio.CancelledError:
            if emit is not None:
                emit(E.NodeCancelled(self.run_id, _now(), cn.name, act_id, self._cancel_reason(frame)))
            raise
        except Exception as e:  # noqa: BLE001 - every failure of an attempt is classified
            out, error_entry = self._failed(act, to_run_error(act, e))
        # ---- apply: writes, `update`, the route label (the core)
        try:
            label, from_result, writes = core.apply_completion(frame, cn, act_id, out, error_entry)
        except RunError:
            raise
        except Exception as e:  # noqa: BLE001 - an `update` expression failed: the node failed
            raise to_run_error(act, e) from None
        result = self.result = out.result
        # ---- commit (the record is built only when something keeps it)
        if track:
            await self._commit(act, NodeCompleted(result, from_result, writes, label, None, error_entry),
                               _perf() - t0)
        return label, result, act_id

    def _failed(self, act: Activation, err: RunError) -> tuple[NodeOutput, dict[str, Any]]:
        """A failed activation (after its retries): report it, and return
        the output of its ``error`` route, or raise ``err`` when it has none."""
        cn = act.node
        if self.emit is not None:
            self.emit(E.NodeFailed(self.run_id, _now(), cn.name, act.id, err.message, err.kind, False))
        if not core.error_route_takes(cn, err):
            raise err
        return core.failure_output(err)

    async def _commit(self, act: Activation, rec: NodeCompleted, duration: float) -> None:
        """Journal the completion (before the frame goes on) and report it."""
        cn, act_id, emit = act.node, act.id, self.emit
        rec.usage = act.recorded_usage() or None
        rec.duration_s = duration
        if self.recorder is not None:
            seq = await self.commit_record(act_id, rec)
            if emit is not None:
                emit(E.Checkpoint(self.run_id, _now(), seq, act_id))
        if emit is not None:
            written = ((cn.output,) if rec.output_is_result else ()) + tuple(w[0] for w in rec.writes)
            emit(E.NodeCompleted(self.run_id, _now(), cn.name, act_id, duration, written, rec.label))
            if cn.rkind == R_ROUTES:
                emit(E.RouteChosen(self.run_id, _now(), cn.name, act_id, rec.label,  # type: ignore[arg-type]
                                   cn.route_map.get(rec.label, END)))  # type: ignore[arg-type]

    def _plan(self, cn: CNode) -> tuple[float | None, bool]:
        """``(attempt timeout, run without the retry loop)`` of ``cn``, cached."""
        timeout = self.timeout_for(cn) if not cn.self_retry else None
        direct = timeout is None and (cn.self_retry or cn.retry is None or cn.retry.max_attempts <= 1)
        plan = self._plans[cn] = (timeout, direct)
        return plan

    def timeout_for(self, cn: CNode) -> float | None:
        """The per-attempt timeout of ``cn`` in seconds (policy-capped)."""
        t = cn.timeout_s
        cap = self.caps.timeout_s
        if cap is not None and (t is None or cap < t):
            return cap
        return t

    def _apply_recorded(self, frame: Frame, cn: CNode, act_id: str, rec: NodeCompleted) -> tuple[str | None, Any, str]:
        core.apply_recorded(frame, cn, act_id, rec)
        if rec.usage:
            for s in self.scopes_for(frame, cn):
                s.add(rec.usage)
        self.result = rec.result
        emit = self.emit
        if emit is not None:
            emit(E.NodeCompleted(self.run_id, _now(), cn.name, act_id, rec.duration_s, (), rec.label, True))
        return rec.label, rec.result, act_id

    def _cancel_reason(self, frame: Frame) -> str:
        f: Frame | None = frame
        while f is not None:
            t = f.tracker
            if t is not None and t.fired:
                return t.cancel_reason or "join fired"
            f = f.parent
        if isinstance(self._stop, InterruptStop):
            return "run interrupted"
        return "run stopped"

    # ------------------------------------------------------------------ detached nodes

    def _launch_detached(self, frame: Frame, cn: CNode) -> None:
        visit = frame.visits.get(cn.name, 0) + 1
        frame.visits[cn.name] = visit
        frame.disown()
        d = Frame(frame.graph, dict(frame.values), input=frame.input, prefix=frame.prefix, vars=frame.vars, log=[],
                  root=frame.root, depth=frame.depth, scopes=frame.scopes, parent=frame)
        task = asyncio.get_running_loop().create_task(self._detached(d, cn, visit))
        frame.root.detached.append(task)  # type: ignore[union-attr]

    async def _detached(self, d: Frame, cn: CNode, visit: int) -> None:
        root = d.root
        try:
            await self.activate(d, cn, visit)
        except RunError as e:
            root.write(ERRORS_CHANNEL, e.error_entry())
            if self.emit is not None:
                self.emit(E.Warning(self.run_id, _now(), f"detached node `{cn.name}` failed: {e.message}", cn.name))
            return
        except RunStop as e:
            self.request_stop(e)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in a detached task must not vanish unseen
            err = RunError("E0909", f"internal error in detached node `{cn.name}`: {type(exc).__name__}: {exc}",
                           node=cn.name, kind="internal")
            root.write(ERRORS_CHANNEL, err.error_entry())
            if self.emit is not None:
                self.emit(E.Warning(self.run_id, _now(), f"detached node `{cn.name}` failed: {err.message}", cn.name))
            return
        for ch, val in d.log or ():
            root.write(ch, val)

    # ------------------------------------------------------------------ subgraphs

    async def run_subgraph(self, act: Activation, key: str, sub_input: Any) -> Any:
        """Run graph ``key`` as a child of activation ``act``; return its output.

        Raises:
            RunError: ``E0907`` (depth), ``E0912`` (input), or what the
                subgraph's run raises.
        """
        child = self.subgraph_frame(act, key, sub_input)
        await self.run_graph(child.graph, child)
        return self.output_of(child.graph, child)

    def subgraph_frame(self, act: Activation, key: str, sub_input: Any) -> Frame:
        """The root frame of graph ``key`` run by subgraph activation ``act``
        with input ``sub_input`` (validated; its budget scope created).

        Raises:
            RunError: ``E0909`` (not in the program), ``E0907`` (depth),
                ``E0912`` (input).
        """
        g = self.prog.graphs.get(key)
        cn = act.node
        if g is None:
            raise cn.error("E0909", f"subgraph `{key}` is not part of the compiled program", kind="config")
        depth = act.frame.depth + 1
        if depth > self.caps.max_subgraph_depth:
            raise cn.error("E0907", f"subgraph nesting deeper than max_subgraph_depth = {self.caps.max_subgraph_depth}",
                           kind="limit", hint="raise `max_subgraph_depth` in `defaults`")
        validated = validate_input(g.ir.input_schema, sub_input, where=f"the input of subgraph `{g.name}`")
        scopes = act.frame.scopes
        if g.ir.budget is not None and g is not self.prog.entry:
            s = self.graph_scopes.get(key)
            if s is None:
                s = self.graph_scopes[key] = BudgetScope.from_limits(f"subgraph `{g.name}`", g.ir.budget)
            scopes = scopes + (s,)
        suffix = f"@{act.attempt}" if act.attempt > 1 else ""
        child = Frame(g, self.initial_values(g, validated), input=validated, prefix=f"{act.id}{suffix}>",
                      depth=depth, scopes=scopes)
        child.parent = act.frame
        return child

    def state_view(self, frame: Frame) -> MappingProxyType:
        """A read-only view of a frame's channels (for user functions)."""
        return MappingProxyType(frame.values)

