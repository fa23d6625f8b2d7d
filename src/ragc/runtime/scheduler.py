"""The dataflow scheduler: frames, activations, routing, forks and joins.

One :class:`Run` executes one leg of a run (a first run, or a resume) of a
compiled program (:mod:`ragc.runtime.compiled`). The model (architecture.md,
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
  supervision (the fork never returns or raises before every child task has
  finished; a cancelled fork cancels its children first). anyio task
  groups cost ~40 µs per task on this class of machine, which alone would
  blow the fan-out targets (1 000 branches with 10 ms latency in < 25 ms);
  anyio cancel scopes, timeouts and sleeps are still used everywhere else.
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
from ragc.ir.model import END
from ragc.harness.citations import SourceLedger
from ragc.runtime.activation import DEFAULT, NO_WRITE, Activation, NodeOutput
from ragc.runtime.budget import BudgetScope
from ragc.runtime.compiled import (
    ERRORS_CHANNEL,
    IMPLICIT_JOIN,
    R_END,
    R_FANOUT,
    R_FORK,
    R_NEXT,
    R_ROUTES,
    CBranch,
    CGraph,
    CJoin,
    CNode,
    CProgram,
)
from ragc.runtime.errors import InspectStop, InterruptStop, RunError, RunFatal, RunStop
from ragc.runtime.expressions import Scope
from ragc.runtime.frames import Frame
from ragc.runtime.inputs import validate_input
from ragc.runtime.joins import JoinTracker
from ragc.runtime.limits import run_attempts, to_run_error
from ragc.runtime.recorder import Recorder
from ragc.runtime.reducers import normalize_messages
from ragc.runtime.replay import ReplayIndex

_IMPLICIT = CJoin(IMPLICIT_JOIN)
_now = time.time
_perf = time.perf_counter


@dataclass
class Caps:
    """Effective run limits: the graph's defaults narrowed by the registry
    policy (``None`` = unbounded)."""

    max_steps: int = 1000
    max_visits: int | None = None
    timeout_s: float | None = None
    deadline_s: float | None = None
    max_concurrency: int | None = None
    max_subgraph_depth: int = 8


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
        self.sources = SourceLedger(src for effects in (replay.effects.values() if replay else ())
                                    for rec in effects.values() if rec.get("kind") == "tool"
                                    and not (rec.get("value") or {}).get("is_error")
                                    for src in (rec.get("value") or {}).get("sources") or ())
        self.emit = emit
        self.caps = caps or Caps()
        self.inspect = inspect
        entry = prog.entry
        assert entry is not None
        self.run_scope = BudgetScope.from_limits("the graph", entry.ir.budget)
        self.base_scopes: tuple[BudgetScope, ...] = (self.run_scope,) + tuple(s for s in policy_scopes if s.limited)
        self.node_scopes: dict[tuple[str, str], BudgetScope] = {}
        self.graph_scopes: dict[str, BudgetScope] = {}
        self.steps = 0
        self.node_visits: dict[CNode, int] = {}
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

    def _recorded_replies(self) -> list[Any]:
        """The journaled model replies of earlier legs of this run, in record order."""
        from ragc.harness.types import ModelResponse

        out = []
        for effects in self.replay.effects.values() if self.replay is not None else ():
            for rec in effects.values():
                if rec.get("kind") == "model" and isinstance(rec.get("value"), dict):
                    try:
                        out.append(ModelResponse.model_validate(rec["value"]))
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

    def recorded_interrupt(self, activation: str) -> dict[str, Any] | None:
        """The journaled question of interrupt ``activation``, if any."""
        rep = self.replay
        return rep.interrupts.get(activation) if rep is not None else None

    async def record(self, kind: str, activation: str, payload: Any) -> int:
        """Journal one record (no-op without a journal); returns its seq."""
        rec = self.recorder
        if rec is None:
            return 0
        return await rec.record(kind, activation, payload)

    async def record_answer(self, activation: str, answer: Any, source: str) -> None:
        """Journal an interrupt answer and make it visible to the replay."""
        await self.record("answer", activation, {"value": answer, "source": source})
        if self.replay is None:
            self.replay = ReplayIndex()
        self.replay.answers[activation] = answer

    def recorded_effects(self, activation: str) -> dict[str, Any] | None:
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

    async def run_graph(self, g: CGraph, frame: Frame) -> None:
        """Run ``g`` from its start in root frame ``frame``, then wait for
        its detached nodes. Raises what the frame raises."""
        try:
            await self.run_frame(frame, g.start, None, None)
            await self._drain_detached(frame)
        finally:
            pending = frame.detached
            if pending:
                await _cancel_and_wait(pending)
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
            rk = cn.rkind
            if rk == R_NEXT:
                name = cn.next_target  # type: ignore[assignment]
            elif rk == R_ROUTES:
                name = cn.route_map.get(label, END)  # type: ignore[arg-type]
            elif rk == R_END:
                return
            else:
                name = await self.fork(frame, cn, act_id, result)

    # ------------------------------------------------------------------ activations

    async def activate(self, frame: Frame, cn: CNode, visit: int | None = None) -> tuple[str | None, Any, str]:
        """Run (or replay) one activation of ``cn`` in ``frame``; apply its
        writes; return ``(route label, result, activation id)``.

        Raises:
            RunError: a limit, or the node's failure (after retries) when it
                has no ``error`` route.
        """
        name = cn.name
        if visit is None:
            visit = frame.visits.get(name, 0) + 1
            frame.visits[name] = visit
        act_id = f"{frame.prefix}{name}#{visit}"
        self.steps += 1
        caps = self.caps
        if self.steps > caps.max_steps:
            # a run-wide limit: stops every branch, not only this one
            raise RunFatal(cn.error("E0901", f"the run exceeded max_steps = {caps.max_steps} node activations "
                                             f"(at `{name}`)", activation=act_id, kind="limit",
                                    hint="raise `max_steps` in `defaults`, or bound the loop with `max_visits`"))
        mv = cn.max_visits
        if caps.max_visits is not None and (mv is None or caps.max_visits < mv):
            mv = caps.max_visits
        if mv is not None:
            v = self.node_visits.get(cn, 0) + 1
            self.node_visits[cn] = v
            if v > mv:
                raise cn.error("E0902", f"node `{name}` was visited more than max_visits = {mv} times",
                               activation=act_id, kind="limit",
                               hint="a loop did not reach its exit; raise `max_visits` or fix the exit condition")
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
            emit(E.NodeStarted(self.run_id, _now(), name, act_id, cn.kind))
        act = Activation(self, frame, cn, act_id, visit)
        error_entry = None
        try:
            plan = self._plans.get(cn)
            if plan is None:
                plan = self._plan(cn)
            timeout, direct = plan
            if direct:
                try:
                    out = await cn.exec(act)  # type: ignore[misc]
                except RunStop:
                    raise
                except Exception as e:  # noqa: BLE001
                    raise to_run_error(act, e) from None
            else:
                out = await run_attempts(act, cn.exec, retry=cn.retry, timeout_s=timeout)  # type: ignore[arg-type]
        except RunError as err:
            if emit is not None:
                emit(E.NodeFailed(self.run_id, _now(), name, act_id, err.message, err.kind, False))
            if not (cn.has_error_route and err.code not in ("E0901", "E0906")):
                raise
            error_entry = err.error_entry()
            out = NodeOutput(None, "error", NO_WRITE, [(ERRORS_CHANNEL, error_entry)])
        except asyncio.CancelledError:
            if emit is not None:
                emit(E.NodeCancelled(self.run_id, _now(), name, act_id, self._cancel_reason(frame)))
            raise
        # ---- writes
        result = out.result
        writes: list[tuple[str, Any]] = []
        from_result = False
        if cn.output is not None and out.write is not NO_WRITE:
            if out.write is DEFAULT:
                from_result = True
                val = normalize_messages(result, name, act_id) if cn.out_messages else result
            else:
                val = normalize_messages(out.write, name, act_id) if cn.out_messages else out.write
            writes.append((cn.output, val))
        if out.extra:
            writes.extend(out.extra)
        owned = frame.owned
        for ch, val in writes:
            if owned and type(val) in (list, dict):
                self._disown_alias(frame, val)
            frame.write(ch, val)
        frame.error = error_entry
        if cn.update:
            sc = frame.scope(result)
            for ch, ev in cn.update:
                try:
                    val = ev(sc)
                except Exception as e:  # noqa: BLE001
                    raise to_run_error(act, e) from None
                writes.append((ch, val))
                frame.write(ch, val)
        # ---- routing label
        label = out.label
        if cn.rkind == R_ROUTES:
            if label is None:
                if cn.chooser != "outcome":
                    raise cn.error("E0903", f"node `{name}` chose no route", activation=act_id, kind="route")
                label = "ok"
            if label not in cn.route_map and not (label == "ok" and cn.chooser == "outcome"):
                raise cn.error("E0903", f"node `{name}` chose the route label `{label}`, which it does not declare",
                               activation=act_id, kind="route",
                               hint="declared labels: " + ", ".join(f"`{x}`" for x in cn.route_map))
        self.result = result
        # ---- journal
        if track:
            usage = act.recorded_usage()
            duration = _perf() - t0
            rec = self.recorder
            if rec is not None:
                payload: dict[str, Any] = {"r": result}
                if from_result:
                    payload["o"] = 1
                    if len(writes) > 1:
                        payload["w"] = writes[1:]
                elif writes:
                    payload["w"] = writes
                if label is not None:
                    payload["l"] = label
                if usage:
                    payload["u"] = usage
                if error_entry is not None:
                    payload["e"] = error_entry
                payload["d"] = round(duration, 6)
                seq = await rec.record("node_completed", act_id, payload)
                if emit is not None:
                    emit(E.Checkpoint(self.run_id, _now(), seq, act_id))
            if emit is not None:
                emit(E.NodeCompleted(self.run_id, _now(), name, act_id, duration, tuple(w[0] for w in writes), label))
                if cn.rkind == R_ROUTES:
                    emit(E.RouteChosen(self.run_id, _now(), name, act_id, label, cn.route_map.get(label, END)))  # type: ignore[arg-type]
        return label, result, act_id

    def _disown_alias(self, frame: Frame, val: Any) -> None:
        values = frame.values
        for ch in tuple(frame.owned):
            if values.get(ch) is val:
                frame.owned.discard(ch)

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

    def _apply_recorded(self, frame: Frame, cn: CNode, act_id: str, rec: dict[str, Any]) -> tuple[str | None, Any, str]:
        result = rec.get("r")
        if rec.get("o") and cn.output is not None:
            frame.write(cn.output, normalize_messages(result, cn.name, act_id) if cn.out_messages else result)
        for ch, val in rec.get("w") or ():
            frame.write(ch, val)
        frame.error = rec.get("e")
        u = rec.get("u")
        if u:
            for s in self.scopes_for(frame, cn):
                s.add(u)
        label = rec.get("l")
        self.result = result
        emit = self.emit
        if emit is not None:
            emit(E.NodeCompleted(self.run_id, _now(), cn.name, act_id, float(rec.get("d", 0.0)), (), label, True))
        return label, result, act_id

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

    # ------------------------------------------------------------------ forks and joins

    def _expand(self, frame: Frame, cn: CNode, result: Any) -> list[tuple[CBranch, dict[str, Any]]]:
        specs: list[tuple[CBranch, dict[str, Any]]] = []
        base = frame.vars
        sc = frame.scope(result)
        for b in cn.branches:
            try:
                if b.foreach_src is not None:
                    src = b.foreach_src(sc)
                    if src is None:
                        src = []
                    if isinstance(src, dict):
                        src = list(src.items())
                    if not isinstance(src, (list, tuple)):
                        raise cn.error("E0908", f"the `for` source of `{b.target}` is not a list "
                                                f"({type(src).__name__})", kind="expression")
                    var = b.foreach_var or "item"
                    pl = b.payload
                    isc = Scope(sc.input, sc.state, base, sc.owned, result, sc.error)
                    append = specs.append
                    for item in src:
                        vars = base.copy()
                        vars[var] = item
                        if pl is not None:
                            isc.vars = vars
                            vars["payload"] = pl(isc)
                        append((b, vars))
                else:
                    if b.payload is not None:
                        vars = dict(base)
                        vars["payload"] = b.payload(sc)
                    else:
                        vars = base
                    specs.append((b, vars))
            except RunError:
                raise
            except Exception as e:  # noqa: BLE001 - an expression error in a payload
                raise cn.error("E0908", f"node `{cn.name}`: payload of `{b.target}`: {e}", kind="expression") from None
        return specs

    async def fork(self, frame: Frame, cn: CNode, act_id: str, result: Any) -> str:
        """Start the branches of ``cn``'s fork, wait for the join, merge.

        Returns the node where ``frame`` continues (the join target, or
        ``END`` for a fork without a join).

        Raises:
            RunError: ``E0910`` when the join fails and no ``error`` route of
                a ``kind join`` node takes the failure.
        """
        join = cn.join
        cj = join if join is not None else _IMPLICIT
        specs = self._expand(frame, cn, result)
        n = len(specs)
        frame.disown()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        tracker = JoinTracker(cj, n, fut)
        emit = self.emit
        if emit is not None:
            # what tells the branches apart in the live view: the payload, else the `for` item
            shown = [v.get("payload") if b.payload is not None else (v.get(b.foreach_var or "item")
                                                                     if b.foreach_src is not None else None)
                     for b, v in specs]
            emit(E.FanOutStarted(self.run_id, _now(), cn.name, act_id, n, cj.id if join is not None else None,
                                 E.branch_labels([b.target for b, _ in specs], shown)))
        recorded = self.replay.joins.get(act_id) if self.replay is not None else None
        if recorded is not None and recorded.get("outcome") == "error":
            jn = frame.graph.nodes.get(cj.node) if (join is not None and cj.node) else None
            if jn is None or not jn.has_error_route:
                # The failed join failed this frame, like a failed node: a
                # resume retries it (succeeded branches replay from the
                # journal, failed and cancelled ones run again) instead of
                # replaying the failure. A failure an `error` route took is
                # kept: what followed it is journaled.
                recorded = None
        if recorded is not None:
            tracker.replaying(recorded)
            indexes = sorted(tracker.expected or ())
        else:
            tracker._decide()
            indexes = range(n)
        stop_target = cj.target if join is not None else None
        stop_sources = cj.sources if (join is not None and cj.sources) else None
        run_branch = self._branch_runner(frame, act_id, specs, tracker, stop_target, stop_sources)

        tasks: list[asyncio.Task] = []
        if not tracker.fired and n:
            limit = cn.max_concurrency or frame.graph.limits.max_concurrency
            cap = self.caps.max_concurrency
            if cap is not None and (limit is None or cap < limit):
                limit = cap
            idx_list = list(indexes)
            if limit is None or limit >= len(idx_list):
                create = loop.create_task
                tasks = [create(run_branch(i)) for i in idx_list]
            else:
                it = iter(idx_list)

                async def worker() -> None:
                    for i in it:
                        if tracker.fired:
                            return
                        await run_branch(i)

                tasks = [loop.create_task(worker()) for _ in range(limit)]
        timer = None
        if cj.timeout_s is not None and recorded is None and not tracker.fired:
            def on_timeout() -> None:
                tracker.timeout(lambda i: {"node": specs[i][0].target, "activation": f"{act_id}/{i}:",
                                           "error_kind": "timeout",
                                           "message": f"branch {i} did not arrive within the join timeout "
                                                      f"of {cj.timeout_s:g}s"})
            timer = loop.call_later(cj.timeout_s, on_timeout)
        try:
            if not tracker.fired:
                await fut
        except BaseException:
            if tasks:
                await _cancel_and_wait(tasks)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        pending = [t for t in tasks if not t.done()]
        if pending:
            await _cancel_and_wait(pending)
        tracker.finish()
        # merge in branch order
        statuses = tracker.statuses
        logs, errs = tracker.logs, tracker.errors
        write = frame.write
        for i in range(n):
            st = statuses[i]
            if st == "o":
                log = logs.get(i)
                if log:
                    for ch, val in log:
                        write(ch, val)
            elif st == "f":
                entry = errs.get(i)
                if entry is not None:
                    write(ERRORS_CHANNEL, entry)
        counts = tracker.counts()
        if recorded is None and self.recorder is not None:
            seq = await self.recorder.record("join_outcome", act_id, tracker.record())
            if emit is not None:
                emit(E.Checkpoint(self.run_id, _now(), seq, act_id))
        if emit is not None:
            emit(E.JoinFired(self.run_id, _now(), cj.id if join is not None else f"{cn.name}:fork", act_id, cj.policy,
                             counts["succeeded"], counts["failed"], counts["cancelled"], counts["skipped"],
                             tracker.outcome))
        if tracker.outcome == "error":
            jnode = frame.graph.nodes.get(cj.node) if (join is not None and cj.node) else None
            if jnode is not None and jnode.has_error_route:
                frame.join_result = (counts, "error")
                return cj.target
            first = next((errs[i] for i in range(n) if i in errs), None)
            why = f"; first failure: {first['message']}" if first else ""
            what = f"join `{cj.node or cj.target}`" if join is not None else f"the branches of `{cn.name}`"
            policy = cj.policy if cj.policy != "quorum" else f"quorum {cj.need}"
            raise RunError("E0910", f"{what} failed (policy {policy}): {counts['succeeded']} succeeded, "
                                    f"{counts['failed']} failed, {counts['cancelled']} cancelled{why}",
                           node=cj.node or cn.name, activation=act_id, span=cj.span or cn.span, kind="join",
                           hint="allow failures with `tolerate N`, or route `error` from a `kind join` node")
        frame.join_result = (counts, "ok")
        return cj.target if join is not None else END

    def _branch_runner(self, frame: Frame, act_id: str, specs: list[tuple[CBranch, dict[str, Any]]],
                       tracker: JoinTracker, stop_target: str | None,
                       stop_sources: frozenset[str] | None) -> Callable[[int], Any]:
        emit = self.emit
        # a single-node branch (the node ends the branch or goes straight to the
        # join target) skips the frame loop
        single = first = None
        if specs and stop_sources is None:
            b0 = specs[0][0]
            cn0 = frame.graph.nodes.get(b0.target) if not b0.is_agent else None
            if (cn0 is not None and cn0.blocking and b0.target != stop_target
                    and (cn0.rkind == R_END or (cn0.rkind == R_NEXT and cn0.next_target in (stop_target, END)))):
                single, first = b0, cn0

        async def run_branch(i: int) -> None:
            b, vars = specs[i]
            child = frame.branch(f"{act_id}/{i}:", vars)
            child.tracker = tracker
            status = "o"
            try:
                if b.is_agent:
                    await self.activate(child, b.agent_node)  # type: ignore[arg-type]
                elif single is not None and single is b:
                    # the common map-reduce worker: one node, then the branch ends
                    await self.activate(child, first)  # type: ignore[arg-type]
                else:
                    await self.run_frame(child, b.target, stop_target, stop_sources)
                    if stop_sources is not None and not child.source_done:
                        status = "s"
            except RunError as e:
                tracker.arrive(i, "f", None, e.error_entry())
                if emit is not None:
                    emit(E.BranchFinished(self.run_id, _now(), b.target, act_id, i, "failed"))
                return
            except RunStop as e:
                self.request_stop(e)
                return
            except asyncio.CancelledError:
                if emit is not None:
                    emit(E.BranchFinished(self.run_id, _now(), b.target, act_id, i, "cancelled"))
                raise
            except Exception as e:  # noqa: BLE001 - a bug must not hang the join
                err = RunError("E0909", f"internal error in branch {i}: {type(e).__name__}: {e}",
                               activation=f"{act_id}/{i}:", kind="internal")
                tracker.arrive(i, "f", None, err.error_entry())
                return
            tracker.arrive(i, status, child.log)
            if emit is not None:
                emit(E.BranchFinished(self.run_id, _now(), b.target, act_id, i, "ok" if status == "o" else "skipped"))

        return run_branch

    # ------------------------------------------------------------------ subgraphs

    async def run_subgraph(self, act: Activation, key: str, sub_input: Any) -> Any:
        """Run graph ``key`` as a child of activation ``act``; return its output.

        Raises:
            RunError: ``E0907`` (depth), ``E0912`` (input), or what the
                subgraph's run raises.
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
        await self.run_graph(g, child)
        return self.output_of(g, child)

    def state_view(self, frame: Frame) -> MappingProxyType:
        """A read-only view of a frame's channels (for user functions)."""
        return MappingProxyType(frame.values)


async def _cancel_and_wait(tasks: Any) -> None:
    """Cancel ``tasks`` (a non-empty collection of asyncio tasks) and wait
    until every one has finished, even if the caller is being cancelled:
    a cancelled branch must not outlive its join or its run."""
    for t in tasks:
        t.cancel()
    with anyio.CancelScope(shield=True):
        await asyncio.wait(tasks)
