"""Runs executed by ``ragc serve``: start, watch, answer, cancel, resume.

One :class:`RunManager` per server. It owns the server's journal (one
:class:`~ragc.runtime.journal.SqliteStore`, the same file ``ragc run`` uses
unless ``--journal`` says otherwise) and runs every leg as a task of the
server's task group, so concurrent runs share one store and its single
writer thread (group commit: one transaction per batch, ``docs/runtime.md``).

Every event of a leg the server executes goes to:

* the run's :class:`RunChannel` -- the event history (read from the journal
  the first time a run is touched, then kept up to date), which SSE streams
  and WebSocket subscriptions follow (:meth:`RunManager.follow`); publishing
  never waits for a follower;
* the telemetry sinks (:mod:`ragc.observe`).

A server that stops (or crashes) mid-run leaves the run ``running`` in the
journal with a dead process id; :meth:`RunManager.view` reports it as
``resumable`` and :meth:`RunManager.resume` continues it in replay mode, so
nothing completed is run twice (the same rule as ``ragc resume``).

Cancelling a run cancels its task (its in-flight model and tool calls stop)
and marks the journal row ``cancelled``; it can still be resumed.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import anyio
from anyio.abc import TaskGroup

from ragc import events as E
from ragc.compiler import compile_file
from ragc.ir.model import ProgramIR
from ragc.runtime.engine import Engine, new_run_id
from ragc.runtime.errors import RunError
from ragc.runtime.journal import Batch, RunInfo, Store, display_status, dumps
from ragc.runtime.records import Effect, JournalFormatError
from ragc.sentinels import NO_ANSWER as _MISSING
from ragc.serve.calls import CallLog, RecordingHarness

POLL_S = 1.0
"""Seconds between journal reads when following a run another process executes."""

FINISHED = ("completed", "failed", "interrupted", "cancelled")


class ServeError(Exception):
    """A request the manager refuses; ``status`` is the HTTP status to answer
    with (404 unknown run or file, 409 wrong state, 422 invalid input),
    ``code`` a diagnostic code when the runtime gave one, ``hint`` what to do."""

    def __init__(self, message: str, *, status: int = 400, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        """``{"message", "code"?, "hint"?}``."""
        out: dict[str, Any] = {"message": self.message}
        if self.code:
            out["code"] = self.code
        if self.hint:
            out["hint"] = self.hint
        return out


def _from_run_error(e: RunError, status: int = 422) -> ServeError:
    return ServeError(e.message, status=status, code=e.code, hint=e.hint)


class RunChannel:
    """The event history of one run; followers wait on :attr:`changed`.

    ``journaled`` counts the items of ``history`` that are journal events
    (the rest are the server's own notes: a refused resume, a cancel), so
    that events another process journals can be appended in order.
    """

    def __init__(self, history: list[dict[str, Any]] | None = None):
        self.history: list[dict[str, Any]] = list(history or [])
        self.journaled = len(self.history)
        self.changed = anyio.Event()

    def publish(self, item: dict[str, Any], *, journaled: bool = True) -> None:
        """Append ``item`` (an event JSON dict) and wake the followers."""
        self.history.append(item)
        self.journaled += journaled
        self.changed.set()
        self.changed = anyio.Event()

    def catch_up(self, journal_events: list[dict[str, Any]]) -> None:
        """Append the journal events not seen yet (written by another process)."""
        if len(journal_events) > self.journaled:
            for item in journal_events[self.journaled:]:
                self.publish(item)


@dataclass
class _Live:
    """A leg this server is executing."""

    scope: anyio.CancelScope
    engine: Engine
    cancelled_by_user: bool = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class RunManager:
    """Runs of ``.rag`` files under ``root`` (see module docs).

    Args:
        store: the journal (shared by every run).
        registry: the loaded :class:`~ragc.registry.model.Registry`.
        registry_path: its file (stored with each run, for ``ragc resume``).
        root: the directory workflow paths are relative to; paths outside it
            are refused.
        workspace: root of file and shell tools (default: the registry's).
        sinks: extra event sinks (telemetry), called for every event.
        bind_program: ``(run_id, program, source) -> None`` called before a leg
            starts (the span recorder's :meth:`~ragc.observe.SpanRecorder.bind`).
    """

    def __init__(self, store: Store, registry: Any, registry_path: str | None, root: Path, *,
                 workspace: str | None = None, sinks: tuple[Callable[[E.Event], None], ...] = (),
                 bind_program: Callable[[str, Any, str | None], None] | None = None):
        self.store = store
        self.registry = registry
        self.registry_path = registry_path
        self.root = root.resolve()
        self.workspace = workspace
        self.sinks = sinks
        self.bind_program = bind_program
        self.calls = CallLog()
        self._channels: dict[str, RunChannel] = {}
        self._live: dict[str, _Live] = {}
        self._engines: dict[tuple[str, int, int], Engine] = {}
        self._tg: TaskGroup | None = None
        self._broken_sinks: set[int] = set()

    # ------------------------------------------------------------------ lifecycle

    def attach(self, task_group: TaskGroup) -> None:
        """Run legs in ``task_group`` (the server's, opened by its lifespan)."""
        self._tg = task_group

    def live(self, run_id: str) -> bool:
        """Whether this server is executing a leg of ``run_id`` now."""
        return run_id in self._live

    # ------------------------------------------------------------------ workflows

    def workflow_path(self, file: str) -> Path:
        """The ``.rag`` file ``file`` (relative to the root, or absolute inside it).

        Raises:
            ServeError: 404 when it is not a ``.rag`` file under the root.
        """
        path = (self.root / file).resolve()
        if not path.is_relative_to(self.root) or path.suffix != ".rag" or not path.is_file():
            raise ServeError(f"no workflow `{file}` under {self.root}", status=404,
                             hint="GET /api/workflows lists the .rag files the server can run")
        return path

    def workflows(self) -> list[str]:
        """The ``.rag`` files under the root, relative and sorted (hidden folders skipped)."""
        out = []
        for p in sorted(self.root.rglob("*.rag")):
            rel = p.relative_to(self.root)
            if not any(part.startswith(".") for part in rel.parts) and p.is_file():
                out.append(rel.as_posix())
        return out

    def compile(self, path: Path, graph: str | None = None) -> Any:
        """The :class:`~ragc.compiler.CompileResult` of ``path`` against the server's registry."""
        return compile_file(path, self.registry, graph=graph)

    def _harness_factory(self) -> Callable[[], Any]:
        registry, workspace, calls = self.registry, self.workspace, self.calls

        def make() -> Any:
            return RecordingHarness(registry, workspace=workspace, policy=registry.policy("default"), calls=calls)

        return make

    def engine_for_file(self, path: Path, graph: str | None = None) -> Engine:
        """A (cached) engine for ``path``; recompiled when the file changes.

        Raises:
            ServeError: 422 with the first diagnostic when the file has errors.
        """
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if graph is None and key in self._engines:
            return self._engines[key]
        result = self.compile(path, graph)
        if not result.ok or result.program is None:
            errors = [d for d in result.diagnostics if d.is_error]
            first = errors[0] if errors else None
            where = f"{first.span.file}:{first.span.line}:{first.span.column}: " if first and first.span else ""
            raise ServeError(f"`{path.name}` has errors: {where}{first.code}: {first.message}" if first
                             else f"`{path.name}` does not compile", status=422, code=first.code if first else None,
                             hint=f"run `ragc check {path}` for every diagnostic")
        engine = self._engine(result.program, str(path))
        if graph is None:
            self._engines[key] = engine
        return engine

    def _engine(self, program: ProgramIR, source: str | None) -> Engine:
        try:
            return Engine(program, registry=self.registry, store=self.store, workspace=self.workspace,
                          source=source, registry_path=self.registry_path, harness_factory=self._harness_factory())
        except RunError as e:
            raise _from_run_error(e) from None

    def engine_for_run(self, info: RunInfo) -> Engine:
        """An engine for a journaled run: its source recompiled against the
        server's registry when it still compiles, else its stored IR (as
        ``ragc resume`` does)."""
        if info.source and Path(info.source).is_file():
            try:
                return self.engine_for_file(Path(info.source), info.graph)
            except ServeError:
                pass  # resume with the stored graph, like `ragc resume`
        full = info if info.ir_json else self.store.get_run(info.id)
        program = ProgramIR.model_validate_json((full.ir_json if full else None) or "{}")
        return self._engine(program, info.source)

    # ------------------------------------------------------------------ reading

    def get(self, run_id: str) -> RunInfo:
        """The journal row of ``run_id``.

        Raises:
            ServeError: 404 unknown run.
        """
        info = self.store.get_run(run_id)
        if info is None:
            raise ServeError(f"no run `{run_id}` in the journal", status=404, hint="GET /api/runs lists the runs")
        return info

    def resumable(self, info: RunInfo) -> bool:
        """Whether ``info`` can be continued now: not completed, not running
        here, and not running in another live process on this host."""
        if info.status == "completed" or self.live(info.id):
            return False
        if info.status == "running":
            meta = info.meta or {}
            pid = meta.get("pid")
            if meta.get("host") == socket.gethostname() and isinstance(pid, int) and pid != os.getpid():
                return not _pid_alive(pid)
            return meta.get("host") != socket.gethostname() or pid == os.getpid()
        return True

    def view(self, info: RunInfo) -> dict[str, Any]:
        """The JSON summary of a run (``RunSummary`` in the OpenAPI document)."""
        source = info.source
        if source:
            try:
                source = Path(source).resolve().relative_to(self.root).as_posix()
            except ValueError:
                pass
        live = self.live(info.id)
        shown = "running" if live and info.status == "running" else display_status(info, self.store.lease(info.id))
        return {"id": info.id, "graph": info.graph, "status": info.status, "display_status": shown, "live": live,
                "resumable": self.resumable(info), "created": info.created, "updated": info.updated,
                "file": source, "usage": info.usage or {}, "error": info.error, "interrupt": info.interrupt,
                "parent": info.parent}

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        """The ``limit`` most recently updated runs, newest first."""
        return [self.view(i) for i in self.store.list_runs(limit)]

    def channel(self, run_id: str) -> RunChannel:
        """The run's event channel; its history is loaded from the journal once."""
        ch = self._channels.get(run_id)
        if ch is None:
            ch = self._channels[run_id] = RunChannel(history=list(self.store.events(run_id)))
        return ch

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events so far (read again from the journal when another
        process runs it).

        Raises:
            ServeError: 404 unknown run.
        """
        self.get(run_id)
        ch = self.channel(run_id)
        if not self.live(run_id):
            ch.catch_up(self.store.events(run_id))
        return list(ch.history)

    async def follow(self, run_id: str, start: int = 0) -> AsyncIterator[tuple[int, dict[str, Any]] | None]:
        """``(index, event)`` of ``run_id`` from ``start``: the history, then each
        new event as it comes, without end (the caller stops iterating); ``None``
        after each quiet :data:`POLL_S` seconds (for keep-alives). A run this
        server does not execute is followed by reading the journal every
        :data:`POLL_S` seconds, so a run of ``ragc run`` in another process is
        live too.

        Raises:
            ServeError: 404 unknown run.
        """
        self.get(run_id)
        ch = self.channel(run_id)
        i = max(0, start)
        while True:
            while i < len(ch.history):
                yield i, ch.history[i]
                i += 1
            changed = ch.changed
            with anyio.move_on_after(POLL_S):
                await changed.wait()
            if i >= len(ch.history) and not self.live(run_id):
                ch.catch_up(self.store.events(run_id))
            if i >= len(ch.history):
                yield None

    async def detail(self, run_id: str) -> dict[str, Any]:
        """Everything the inspector shows of one run: the summary, ``input``,
        ``output``, ``state`` (replayed from the journal), ``calls`` (model and
        tool calls with input and output) and ``layout`` (its graph, from
        :func:`ragc.serve.graphview.graph_view`).

        Raises:
            ServeError: 404 unknown run.
        """
        from ragc.serve.graphview import graph_view

        info = self.get(run_id)
        engine = self.engine_for_run(info)
        state: dict[str, Any] = {}
        try:
            state = dict((await engine.inspect(run_id)).values)
        except RunError:
            state = {}
        return {**self.view(info), "input": info.input, "output": info.output, "state": state,
                "calls": self.calls_of(run_id, info), "layout": graph_view(engine.program)}

    def calls_of(self, run_id: str, info: RunInfo | None = None) -> list[dict[str, Any]]:
        """The run's model and tool calls in journal order: ``{"kind", "activation",
        "key", "node", "name", "input", "output"}``; a model call's ``input``
        (its messages) is known only for legs this server executed."""
        requests = {(c["activation"], c["key"]): c for c in self.calls.of(run_id)}
        tool_args = {}
        for ev in self.channel(run_id).history:
            if ev.get("type") == "tool_call_started":
                tool_args[(ev.get("activation"), ev.get("call"))] = ev
        out = []
        for rec in self.store.records(run_id):
            if rec.kind != Effect.KIND:
                continue
            try:
                eff = rec.typed()
            except JournalFormatError:
                continue  # the inspector shows what it can read
            key = eff.key  # type: ignore[union-attr]
            node = rec.activation.rsplit(":", 1)[-1].split("#", 1)[0] if rec.activation else None
            value = eff.value  # type: ignore[union-attr]
            kind = eff.kind  # type: ignore[union-attr]
            if kind == "model":
                req = requests.get((rec.activation, key)) or requests.get((rec.activation, key.rsplit("/", 1)[-1]))
                out.append({"kind": "model", "activation": rec.activation, "key": key, "node": node,
                            "name": (value or {}).get("model") if isinstance(value, dict) else None,
                            "input": req["messages"] if req else None, "output": value})
            elif kind == "tool":
                started = tool_args.get((rec.activation, key)) or tool_args.get((rec.activation,
                                                                                 key.rsplit("/", 1)[-1]))
                out.append({"kind": "tool", "activation": rec.activation, "key": key, "node": node,
                            "name": started.get("tool") if started else None,
                            "input": started.get("arguments") if started else None, "output": value})
            elif kind == "cell":  # a `.ragsh` cell of a `kind repl` node: its source in, its outcome out
                v = value if isinstance(value, dict) else {}
                out.append({"kind": "cell", "activation": rec.activation, "key": key, "node": node, "name": key,
                            "input": v.get("source"),
                            "output": {k: v.get(k) for k in ("output", "value", "error", "answered", "answer")}})
        return out

    # ------------------------------------------------------------------ writing

    def _listener(self, run_id: str) -> Callable[[E.Event], None]:
        ch = self.channel(run_id)
        sinks = self.sinks

        def on_event(ev: E.Event) -> None:
            if type(ev) is not E.ModelDelta:  # deltas are not journaled, and would flood the history
                ch.publish(E.to_json(ev))
            for sink in sinks:
                try:
                    sink(ev)
                except Exception as e:  # noqa: BLE001 - telemetry must never fail a run
                    self._sink_failed(sink, e)

        return on_event

    def _sink_failed(self, sink: Any, error: Exception) -> None:
        name = type(sink).__name__
        if id(sink) not in self._broken_sinks:  # say it once per sink, not once per event
            self._broken_sinks.add(id(sink))
            sys.stderr.write(f"ragc serve: warning: telemetry sink {name} failed ({type(error).__name__}: {error}); "
                             f"runs go on without it\n")

    async def _spawn(self, run_id: str, engine: Engine, leg: Callable[[list], Any]) -> None:
        """Run ``leg`` as a task; return once it emitted its first event (the
        run row exists then) or failed before that.

        Raises:
            ServeError: 422/409 when the leg was refused before it started
                (``E0913`` a changed graph, ``E0915`` a taken id...).
        """
        if self._tg is None:
            raise ServeError("the server is not running", status=503)
        scope = anyio.CancelScope()
        live = self._live[run_id] = _Live(scope, engine)
        if self.bind_program is not None:
            self.bind_program(run_id, engine.program, engine.source)
        self.channel(run_id).catch_up(self.store.events(run_id))
        publish = self._listener(run_id)
        started = anyio.Event()
        refused: list[RunError] = []

        def listener(ev: E.Event) -> None:
            started.set()
            publish(ev)

        async def task() -> None:
            try:
                with scope:
                    try:
                        await leg([listener])
                    except RunError as e:
                        if not started.is_set():
                            refused.append(e)
                        else:
                            self.channel(run_id).publish({"type": "warning", "run_id": run_id, "ts": time.time(),
                                                          "message": f"{e.code}: {e.message}", "node": e.node},
                                                         journaled=False)
                if live.cancelled_by_user:
                    await self._mark_cancelled(run_id)
            finally:
                self._live.pop(run_id, None)
                started.set()

        self._tg.start_soon(task)
        await started.wait()
        if refused:
            raise _from_run_error(refused[0], status=409 if refused[0].code == "E0913" else 422)

    async def _mark_cancelled(self, run_id: str) -> None:
        now = time.time()
        err = {"code": None, "message": "cancelled through ragc serve", "kind": "cancelled"}
        await self.store.commit(Batch(run_updates={run_id: {"status": "cancelled", "updated": now,
                                                            "error_json": dumps(err)}}))
        self.channel(run_id).publish({"type": "run_finished", "run_id": run_id, "ts": now, "status": "cancelled",
                                      "error": err["message"], "usage": {}}, journaled=False)

    async def start(self, file: str, inputs: dict[str, Any] | None = None, *, graph: str | None = None,
                    run_id: str | None = None) -> str:
        """Start a run of ``file`` (relative to the root) with ``inputs``; returns its id
        as soon as the run is journaled (it goes on in the server).

        Raises:
            ServeError: 404 unknown file, 422 a file with errors or an input
                that does not match the graph's ``input`` block (``E0912``),
                409 a taken run id.
        """
        engine = self.engine_for_file(self.workflow_path(file), graph)
        try:
            validated = engine.validate(inputs or {})
        except RunError as e:
            raise _from_run_error(e) from None
        rid = run_id or new_run_id()
        if self.store.get_run(rid, full=False) is not None or rid in self._live:
            raise ServeError(f"a run with id {rid} already exists", status=409)
        self._channels[rid] = RunChannel()
        await self._spawn(rid, engine, lambda ls: engine.start(validated, run_id=rid, listeners=ls))
        return rid

    async def resume(self, run_id: str, *, answer: Any = _MISSING, force: bool = False) -> None:
        """Continue ``run_id`` (with ``answer`` for its pending interrupt); returns once the
        new leg started.

        Raises:
            ServeError: 404 unknown run; 409 running, completed, or not waiting
                for an answer; 422 an answer that is not one of the options
                (``E0911``).
        """
        info = self.get(run_id)
        if self.live(run_id):
            raise ServeError(f"run {run_id} is running", status=409, hint="wait for it, or cancel it")
        if info.status == "completed":
            raise ServeError(f"run {run_id} already completed", status=409)
        if not force and not self.resumable(info):
            raise ServeError(f"run {run_id} is running in process {(info.meta or {}).get('pid')}", status=409,
                             hint="pass force to resume anyway")
        if answer is not _MISSING:
            pending = info.interrupt
            if info.status != "interrupted" or not pending:
                raise ServeError(f"run {run_id} is not waiting for an answer (status {info.status})", status=409,
                                 code="E0911")
            options = pending.get("options") or []
            if options and answer not in options:
                raise ServeError(f"`{answer}` is not an answer to {pending.get('question')!r}; options: "
                                 + ", ".join(map(repr, options)), status=422, code="E0911")
        engine = self.engine_for_run(info)
        await self._spawn(run_id, engine, lambda ls: engine.resume(run_id, answer=answer, force=force, listeners=ls))

    def cancel(self, run_id: str) -> None:
        """Cancel the leg this server runs for ``run_id``.

        Raises:
            ServeError: 404 unknown run, 409 not running here.
        """
        self.get(run_id)
        live = self._live.get(run_id)
        if live is None:
            raise ServeError(f"run {run_id} is not running in this server", status=409)
        live.cancelled_by_user = True
        live.scope.cancel()

    async def wait(self, run_id: str, timeout: float) -> None:
        """Wait until this server no longer runs a leg of ``run_id`` (tests, shutdown)."""
        with anyio.move_on_after(timeout):
            while run_id in self._live:
                await anyio.sleep(0.02)
