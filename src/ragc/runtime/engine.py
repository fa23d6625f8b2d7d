"""Runs as the user sees them: start, resume, fork and inspect, with the
journal, the harness, policy limits and events wired together.

An :class:`Engine` holds one compiled program (compiled once) plus its
registry, functions and store, and starts any number of runs:

* :meth:`Engine.start` validates the input, creates the run row (the input
  and the IR are stored once, here), and executes a first leg.
* :meth:`Engine.resume` claims the run's lease (one owner per run:
  :class:`~ragc.runtime.journal.LeaseKeeper`, ``E0960`` when another live
  process holds it), checks that the run can continue (known, not
  completed, same IR hash unless
  ``force``), journals an interrupt ``answer`` if one is given (validated
  against the options, ``E0911``), and executes a new leg in replay mode
  (:mod:`ragc.runtime.replay`).
* :meth:`Engine.fork` copies a run's records up to a step into a new run;
  resuming that run continues from there.
* :meth:`Engine.inspect` replays a run's journal without executing anything
  (the state a finished or stopped run reached).

Effective limits (:data:`~ragc.runtime.core.Caps`, a :class:`~ragc.ir.model.LimitsIR`): the graph's
``defaults`` narrowed by the registry's ``default`` policy (and
``untrusted`` for untrusted workflows); policy budget limits become budget
scopes of their own.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ragc import events as E
from ragc.ir.model import ProgramIR
from ragc.runtime.budget import BudgetScope
from ragc.runtime.compiled import CProgram
from ragc.runtime.program import compile_program
from ragc.runtime.errors import RunError
from ragc.runtime.functions import FunctionTable
from ragc.runtime.inputs import MAX_REPORTED_PROBLEMS, output_problems, validate_input
from ragc.runtime.irdiff import summarize_change
from ragc.runtime.journal import (Batch, LeaseHeld, LeaseKeeper, MemoryStore, RunInfo, Store, StoreError, dumps,
                                  new_run_row)
from ragc.runtime.recorder import EventBus, Recorder
from ragc.runtime.records import Answer, JournalFormatError, Resumed
from ragc.runtime.replay import ReplayIndex, build_index
from ragc.runtime.scheduler import Caps, Run, RunOutcome
from ragc.sentinels import NO_ANSWER as _MISSING  # the public name of "no answer"


def new_run_id() -> str:
    """A sortable, unique run id such as ``20260512-131500-a3f9c1``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class RunResult:
    """The outcome of :meth:`Engine.start` / :meth:`Engine.resume`.

    Attributes:
        status: ``completed``, ``failed`` or ``interrupted``.
        run_id: the run's id (use it with ``resume``).
        output: the graph's ``output`` channels (the whole state when it
            declares none); ``None`` unless completed.
        state: the root state (channels) the run reached.
        usage: ``{"model_calls", "tool_calls", "input_tokens",
            "output_tokens", "cost_usd", "steps"}`` of the whole run.
        error: the :class:`RunError` of a failed run.
        interrupt: the pending question of an interrupted run
            (``{"activation", "node", "question", "options", "default",
            "deadline"}``).
        result: the result of the last activation.
    """

    status: str
    run_id: str
    output: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    error: RunError | None = None
    interrupt: dict[str, Any] | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        """Whether the run completed."""
        return self.status == "completed"

    def to_json(self) -> dict[str, Any]:
        """The JSON summary (``ragc run --json`` prints it last)."""
        out: dict[str, Any] = {"status": self.status, "run_id": self.run_id, "output": self.output,
                               "state": self.state, "usage": self.usage}
        if self.error is not None:
            out["error"] = self.error.to_dict()
        if self.interrupt is not None:
            out["interrupt"] = self.interrupt
        return out


class Engine:
    """One program, ready to run (see module docs).

    Args:
        program: the compiled IR (hashed here if it has no hash yet).
        registry: the registry (``None``: an empty one).
        functions: Python callables for function and router nodes (and
            usable as tools by name).
        store: the journal (``None``: no persistence; interrupts then cannot
            be resumed).
        workspace: root of file and shell tools (default: the registry's).
        source, registry_path: where the program and registry came from
            (stored with each run so ``ragc resume`` can reload them).
        untrusted: apply ``[policies.untrusted]`` on top of ``default``.
        harness_factory: ``() -> Harness`` override (tests).
        lenient: tolerate functions that cannot be loaded (inspection).

    Raises:
        RunError: ``E0908`` / ``E0914`` when the program cannot be prepared.
    """

    def __init__(self, program: ProgramIR, *, registry: Any = None, functions: dict[str, Any] | None = None,
                 store: Store | None = None, workspace: str | os.PathLike | None = None, source: str | None = None,
                 registry_path: str | None = None, untrusted: bool = False,
                 harness_factory: Callable[[], Any] | None = None, lenient: bool = False):
        if registry is None:
            from ragc.registry.model import Registry

            registry = Registry()
        self.program = program if program.hash else program.with_hash()
        self.registry = registry
        self.functions = dict(functions or {})
        self.store = store
        self.workspace = str(workspace) if workspace is not None else None
        self.source = source
        self.registry_path = registry_path
        self.untrusted = untrusted
        self._harness_factory = harness_factory
        self.table = FunctionTable(registry, self.functions, lenient=lenient)
        self.cprog: CProgram = compile_program(self.program, registry, self.table)
        self.cprog.graph_runner = self._run_graph
        self.caps, self.policy_scopes = self._limits()
        self._ir_json: str | None = None

    async def _run_graph(self, key: str, inputs: dict) -> dict:
        """Run graph ``key`` of this program (a ``registry.NAME`` graph a
        ``kind repl`` node grants) to its end as a run of its own, on an
        in-memory journal, with this engine's registry, functions, workspace
        and untrusted flag: ``{"status", "run_id", "output", "usage",
        "error", "interrupt"}`` (an interrupt ends it with status
        ``interrupted``).

        Raises:
            RunError: ``E0912`` (invalid input) and what starting a run raises.
        """
        from ragc.runtime.journal import open_store

        program = self.program.model_copy(update={"entry": key, "hash": ""})
        engine = Engine(program, registry=self.registry, functions=self.functions, store=open_store("memory"),
                        workspace=self.workspace, source=self.source, registry_path=self.registry_path,
                        untrusted=self.untrusted, harness_factory=self._harness_factory)
        result = await engine.start(inputs)
        error = None
        if result.error is not None:
            error = {"code": getattr(result.error, "code", None),
                     "message": getattr(result.error, "message", str(result.error))}
        return {"status": result.status, "run_id": result.run_id, "output": result.output, "usage": result.usage,
                "error": error, "interrupt": result.interrupt}

    # ------------------------------------------------------------------ configuration

    def _policies(self) -> list[tuple[str, Any]]:
        reg = self.registry
        out = [("default", reg.policy("default"))]
        if self.untrusted:
            out.append(("untrusted", reg.policy("untrusted")))
        return out

    def _limits(self) -> tuple[Caps, tuple[BudgetScope, ...]]:
        lim = self.program.entry_graph.limits
        # the graph's per-node defaults are not run-wide ceilings: only policies set those
        caps = lim.model_copy(update={"max_visits": None, "timeout_s": None, "max_concurrency": None})
        scopes = []
        for name, pol in self._policies():
            if pol.max_steps is not None:
                caps.max_steps = min(caps.max_steps, pol.max_steps)
            if pol.max_visits is not None:
                caps.max_visits = pol.max_visits if caps.max_visits is None else min(caps.max_visits, pol.max_visits)
            if pol.timeout is not None:
                caps.timeout_s = pol.timeout if caps.timeout_s is None else min(caps.timeout_s, pol.timeout)
            if pol.max_concurrency is not None:
                caps.max_concurrency = (pol.max_concurrency if caps.max_concurrency is None
                                        else min(caps.max_concurrency, pol.max_concurrency))
            if pol.max_subgraph_depth is not None:
                caps.max_subgraph_depth = min(caps.max_subgraph_depth, pol.max_subgraph_depth)
            scope = BudgetScope.from_limits(f"policy `{name}`", pol)
            if scope.limited:
                scopes.append(scope)
        return caps, tuple(scopes)

    def _fresh_policy_scopes(self) -> tuple[BudgetScope, ...]:
        return tuple(BudgetScope.from_limits(s.label, s) for s in self.policy_scopes)

    def harness_factory(self) -> Callable[[], Any]:
        """``() -> Harness`` for one leg (a fresh harness per leg)."""
        if self._harness_factory is not None:
            return self._harness_factory

        def make() -> Any:
            from ragc.harness import Harness

            # The harness enforces one policy: for untrusted runs, what both
            # `default` and `untrusted` grant.
            policy = self.registry.policy("default")
            if self.untrusted:
                policy = policy.narrowed_by(self.registry.policy("untrusted"))
                rc = policy.run_command
                if rc is None or rc.sandbox is None:
                    # untrusted commands run only in the OS sandbox unless a policy says otherwise
                    from ragc.registry.model import RunCommandPolicy

                    rc = (rc or RunCommandPolicy()).model_copy(update={"sandbox": "require"})
                    policy = policy.model_copy(update={"run_command": rc})
            return Harness(self.registry, workspace=self.workspace, policy=policy, functions=self.functions)

        return make

    @property
    def ir_json(self) -> str:
        """The program's IR as JSON (stored with each new run), computed once."""
        if self._ir_json is None:
            self._ir_json = self.program.model_dump_json()
        return self._ir_json

    # ------------------------------------------------------------------ runs

    def validate(self, inputs: Any) -> dict[str, Any]:
        """The run input checked against the entry graph's schema.

        Raises:
            RunError: ``E0912``.
        """
        return validate_input(self.program.entry_graph.input_schema, inputs)

    async def start(self, inputs: Any = None, *, run_id: str | None = None,
                    listeners: Iterable[Callable[[E.Event], None]] = ()) -> RunResult:
        """Start a run and execute it until it completes, fails or is interrupted.

        Raises:
            RunError: ``E0912`` (invalid input), ``E0915`` (the run id exists,
                or the journal cannot be written).
        """
        validated = self.validate(inputs)
        rid = run_id or new_run_id()
        recorder = None
        store = self.store
        if store is not None:
            if store.get_run(rid, full=False) is not None:
                raise RunError("E0915", f"a run with id {rid} already exists", kind="input")
            now = time.time()
            info = RunInfo(id=rid, graph=self.program.entry, ir_hash=self.program.hash, status="running",
                           created=now, updated=now, source=self.source, registry=self.registry_path,
                           workspace=self.workspace, meta=self._meta(legs=1))
            try:
                await store.commit(Batch(run_row=new_run_row(info, self.ir_json, validated)))
            except StoreError as e:
                raise RunError("E0915", f"cannot start the run: {e}", kind="journal") from None
            keeper = self._claim(rid)
            recorder = Recorder(store, rid)
            return await self._leg(rid, validated, recorder, None, resumed=False, listeners=listeners, keeper=keeper)
        return await self._leg(rid, validated, recorder, None, resumed=False, listeners=listeners)

    def _claim(self, run_id: str) -> LeaseKeeper:
        """Become the run's only owner (its lease in the journal).

        Raises:
            RunError: ``E0960`` (a live process owns it), ``E0915`` (the
                journal cannot be written).
        """
        assert self.store is not None
        try:
            return LeaseKeeper(self.store, run_id)
        except LeaseHeld as e:
            h = e.holder
            since = time.strftime("%H:%M:%S", time.localtime(h.acquired))
            raise RunError("E0960", f"run {run_id} is being run by process {h.pid} on {h.host} (since {since})",
                           kind="input", hint=f"wait for it to end, or stop it (`kill {h.pid}` on {h.host}); "
                                              "a lease whose process died is taken over") from None
        except StoreError as e:
            raise RunError("E0915", f"cannot claim run {run_id}: {e}", kind="journal") from None

    def _meta(self, **extra: Any) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "untrusted": self.untrusted, **extra}

    def _check_resumable(self, run_id: str, force: bool) -> RunInfo:
        store = self.store
        if store is None:
            raise RunError("E0915", "this workflow has no journal, so its runs cannot be resumed", kind="input",
                           hint="load it with journal=\"sqlite\" or \"memory\"")
        info = store.get_run(run_id)
        if info is None:
            raise RunError("E0915", f"no run {run_id} in the journal", kind="input", hint="list runs with `ragc runs list`")
        if info.status == "completed":
            raise RunError("E0915", f"run {run_id} already completed", kind="input",
                           hint=f"fork it to run again from a step: `ragc runs fork {run_id} --step N`")
        if info.ir_hash != self.program.hash and not force:
            try:
                changes = summarize_change(ProgramIR.model_validate_json(info.ir_json or "{}"), self.program)
            except Exception:  # noqa: BLE001 - an unreadable old IR still means "changed"
                changes = []
            detail = ("; ".join(changes[:6]) + (" ..." if len(changes) > 6 else "")) if changes else "its IR differs"
            raise RunError("E0913", f"the graph changed since run {run_id} started: {detail}", kind="input",
                           hint="to continue with the new graph, resume with `force=True`")
        return info

    async def resume(self, run_id: str, *, answer: Any = _MISSING, force: bool = False,
                     listeners: Iterable[Callable[[E.Event], None]] = ()) -> RunResult:
        """Continue run ``run_id`` (after a crash, a failure or an interrupt).

        Args:
            answer: the answer to the pending interrupt (if any).
            force: resume even if the graph changed (never while another
                live process owns the run: that is ``E0960``).

        Raises:
            RunError: ``E0913`` (graph changed), ``E0911`` (answer not an
                option), ``E0960`` (another live process owns the run),
                ``E0915`` (unknown or completed run, journal problem).
        """
        if self.store is not None and self.store.get_run(run_id, full=False) is not None:
            # the lease first, then what the run reached: of two resumes started
            # together, the second is refused before it reads a record
            keeper = self._claim(run_id)
        else:
            keeper = None
        try:
            return await self._resume_owned(run_id, answer, force, listeners, keeper)
        except BaseException:
            if keeper is not None:
                keeper.release()
            raise

    async def _resume_owned(self, run_id: str, answer: Any, force: bool,
                            listeners: Iterable[Callable[[E.Event], None]], keeper: LeaseKeeper | None) -> RunResult:
        info = self._check_resumable(run_id, force)
        store = self.store
        assert store is not None
        records = store.records(run_id)
        replay = _index(records)
        seq, ev_seq = store.last_seq(run_id)
        recorder = Recorder(store, run_id, seq, ev_seq)
        pending = info.interrupt
        if pending is None and replay.interrupts:
            for act, q in replay.interrupts.items():
                if act not in replay.answers:
                    pending = q.encode()
        if answer is not _MISSING:
            if pending is None:
                raise RunError("E0911", f"run {run_id} is not waiting for an answer", kind="input")
            options = pending.get("options") or []
            if options and answer not in options:
                shown = ", ".join(repr(o) for o in options)
                raise RunError("E0911", f"`{answer}` is not an answer to {pending.get('question')!r}; "
                                        f"options: {shown}", node=pending.get("node"),
                               activation=pending.get("activation"), kind="input",
                               hint=f"ragc resume {run_id} --answer {options[0]}")
        items: list[tuple[str, str, Any]] = []
        if answer is not _MISSING:
            items.append((Answer.KIND, pending["activation"], Answer(answer, "user").encode()))  # type: ignore[index]
            replay.answers[pending["activation"]] = answer  # type: ignore[index]
        legs = int((info.meta or {}).get("legs", 1)) + 1
        updates: dict[str, Any] = {"status": "running", "interrupt_json": None, "error_json": None,
                                   "meta_json": dumps(self._meta(legs=legs, forced=force or None))}
        if info.ir_hash != self.program.hash:
            updates["ir_hash"] = self.program.hash
            updates["ir_json"] = self.ir_json
        items.append((Resumed.KIND, "", Resumed(legs, bool(force), self.program.hash).encode()))
        recorder.defer(items, updates)
        return await self._leg(run_id, info.input or {}, recorder, replay, resumed=True, listeners=listeners,
                               keeper=keeper)

    def fork(self, run_id: str, step: int) -> str:
        """Copy run ``run_id`` up to record ``step`` into a new run; returns its id.

        Raises:
            RunError: ``E0915`` (no journal, unknown run, a step below 0 or
                past the run's last record).
        """
        store = self.store
        if store is None:
            raise RunError("E0915", "this workflow has no journal to fork from", kind="input")
        if store.get_run(run_id, full=False) is None:
            raise RunError("E0915", f"no run {run_id} in the journal", kind="input")
        if step < 0:
            raise RunError("E0915", "--step must be >= 0", kind="input")
        last, _ = store.last_seq(run_id)
        if step > last:
            raise RunError("E0915", f"run {run_id} has no step {step} (its last step is {last})", kind="input",
                           hint=f"`ragc runs show {run_id}` lists its steps")
        new_id = new_run_id()
        try:
            store.fork(run_id, step, new_id)
        except StoreError as e:
            raise RunError("E0915", str(e), kind="journal") from None
        return new_id

    async def inspect(self, run_id: str) -> RunOutcome:
        """Replay ``run_id``'s journal without executing anything; the
        outcome's ``values`` are the state it reached.

        Raises:
            RunError: ``E0915`` (unknown run).
        """
        store = self.store
        info = store.get_run(run_id) if store is not None else None
        if info is None:
            raise RunError("E0915", f"no run {run_id} in the journal", kind="input")
        replay = _index(store.records(run_id))  # type: ignore[union-attr]
        run = Run(self.cprog, run_id=run_id, input=info.input or {}, replay=replay, caps=self.caps,
                  policy_scopes=self._fresh_policy_scopes(), inspect=True)
        run.replay = replay  # keep even when empty
        return await run.execute()

    async def _leg(self, run_id: str, input: dict[str, Any], recorder: Recorder | None, replay: ReplayIndex | None,
                   *, resumed: bool, listeners: Iterable[Callable[[E.Event], None]],
                   keeper: LeaseKeeper | None = None) -> RunResult:
        """Execute one leg; the lease ``keeper`` (if any) is released when it
        ends, however it ends. A cancelled leg (Ctrl-C, SIGTERM, a cancelled
        task) is journaled as ``cancelled`` before the cancellation goes on."""
        try:
            return await self._leg_owned(run_id, input, recorder, replay, resumed=resumed, listeners=listeners)
        except BaseException as exc:
            if recorder is not None and _is_cancellation(exc):
                import anyio

                err = RunError("E0961", "the run was cancelled", kind="cancelled",
                               hint=f"`ragc resume {run_id}` continues it")
                with anyio.CancelScope(shield=True):
                    try:
                        await recorder.update_run(status="cancelled", error_json=dumps(err.to_dict()))
                    except (StoreError, Exception):  # noqa: BLE001 - the lease still goes; the row says crashed
                        pass
            raise
        finally:
            if keeper is not None:
                keeper.release()

    async def _leg_owned(self, run_id: str, input: dict[str, Any], recorder: Recorder | None,
                         replay: ReplayIndex | None, *, resumed: bool,
                         listeners: Iterable[Callable[[E.Event], None]]) -> RunResult:
        bus = EventBus(list(listeners), recorder)
        emit = bus.emit
        run = Run(self.cprog, run_id=run_id, input=input, harness_factory=self.harness_factory(), recorder=recorder,
                  replay=replay, emit=emit, caps=self.caps, policy_scopes=self._fresh_policy_scopes())
        if emit is not None:
            emit(E.RunStarted(run_id, time.time(), self.program.entry, self.program.hash, resumed))
        try:
            outcome = await run.execute()
        finally:
            await run.aclose()
        entry = self.cprog.entry
        assert entry is not None
        status = outcome.status
        state = outcome.values
        output = None
        err = outcome.error
        if status == "completed":
            output = ({ch: state.get(ch) for ch in entry.output} if entry.output is not None else dict(state))
            problems = output_problems(entry.ir.output_schema, output)
            if problems:
                shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
                more = len(problems) - MAX_REPORTED_PROBLEMS
                err = RunError("E0916", f"the run's output does not match graph `{entry.name}`'s output block: "
                               + shown + (f"; and {more} more" if more > 0 else ""), kind="output",
                               hint="every `output` channel must hold a value of its declared type when the "
                                    "run ends (mark a field `T?` if it may stay empty)")
                status, output = "failed", None
        if emit is not None:
            emit(E.RunFinished(run_id, time.time(), status, err.message if err is not None else None, outcome.usage))
        if recorder is not None:
            cols: dict[str, Any] = {"status": status, "usage_json": dumps(outcome.usage),
                                    "error_json": dumps(err.to_dict()) if err is not None else None,
                                    "interrupt_json": dumps(outcome.interrupt) if outcome.interrupt else None}
            if status == "completed" and entry.output is not None:
                cols["output_json"] = dumps(output)
            try:
                await recorder.update_run(**cols)
            except StoreError as e:  # the outcome is still returned; the row says "running"
                if err is None:
                    err = RunError("E0915", f"the run's final status could not be journaled: {e}", kind="journal")
                    status = "failed"
        return RunResult(status, run_id, output, state, outcome.usage, err, outcome.interrupt, outcome.result)


def _is_cancellation(exc: BaseException) -> bool:
    """Is ``exc`` a cancellation (Ctrl-C, a cancelled task) rather than a failure?"""
    import asyncio

    if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancellation(e) for e in exc.exceptions)
    try:
        import anyio

        return isinstance(exc, anyio.get_cancelled_exc_class())
    except Exception:  # noqa: BLE001 - outside an event loop
        return False


def memory_store() -> MemoryStore:
    """A fresh in-memory store."""
    return MemoryStore()


def _index(records: Any) -> ReplayIndex:
    """The replay index of a run's records.

    Raises:
        RunError: ``E0915`` (kind ``journal``), a record this ragc cannot read.
    """
    try:
        return build_index(records)
    except JournalFormatError as e:
        raise RunError("E0915", str(e), kind="journal",
                       hint="the journal was written by another ragc version or damaged; "
                            "`ragc runs show` lists what it holds") from None
