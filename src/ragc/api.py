"""The Python API: load a ``.rag`` workflow and run it.

::

    import ragc

    wf = ragc.load("workflows/review.rag", registry="registry.toml",
                   functions={"score": score})          # custom nodes by name
    result = wf.run_sync({"question": "How are joins scheduled?"})
    if result.status == "interrupted":
        result = wf.resume_sync(result.run_id, answer="publish")
    print(result.status, result.output, result.usage)

    # later, from another process: the workflow a journaled run used
    wf = ragc.load_run("20260512-131500-a3f9c1", journal=".ragc/runs.sqlite")
    print(wf.inspect_sync("20260512-131500-a3f9c1"))     # the state it reached

``load`` compiles the file against the registry (raising :class:`RagcError`
with the diagnostics when it has errors); ``Workflow.run`` starts a run,
``Workflow.resume`` continues one (after an interrupt, a crash or a failure),
``Workflow.fork`` copies a run up to a journal step, ``Workflow.inspect``
replays a run's journal to the state it reached. :func:`load_run` rebuilds
the workflow of a journaled run (what ``ragc resume`` uses). Runs are journaled in
``.ragc/runs.sqlite`` under the current directory by default
(``journal="memory"`` keeps them in memory, ``journal=None`` keeps nothing,
a path names another SQLite file; a graph-level ``store "NAME"`` or a
registry ``[stores.*]`` entry also selects the journal).

:meth:`Workflow.from_program` builds a workflow from an IR
(:class:`ragc.ir.model.ProgramIR`) directly, without a ``.rag`` file.

Custom node functions may return :class:`NodeResult` to choose a route or
write extra channels (see ``docs/runtime.md``, "Custom nodes").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import anyio

from ragc.events import Event
from ragc.runtime.engine import Engine, RunResult, new_run_id
from ragc.runtime.errors import RunError
from ragc.runtime.functions import NodeResult
from ragc.runtime.journal import RunInfo, Store, StoreError, open_store
from ragc.sentinels import NO_ANSWER

__all__ = ["load", "load_run", "run", "arun", "Workflow", "RunResult", "RagcError", "NodeResult", "RunError",
           "NO_ANSWER", "new_run_id", "journal_spec"]

OnEvent = Callable[[Event], None] | Iterable[Callable[[Event], None]] | None
"""What ``on_event=`` takes: one event sink, several (each gets every
event, in order), or none. Sinks must not block."""


class RagcError(Exception):
    """A workflow that cannot be loaded: its diagnostics (check errors,
    registry errors) or an I/O problem.

    Attributes:
        diagnostics: the :class:`ragc.diagnostics.model.Diagnostic` list.
        sources: file name -> text, for rendering the diagnostics.
        run_error: the :class:`RunError` (with its ``.rag`` span) when the
            program compiled but cannot be prepared to run (``E0914`` a function
            that cannot be loaded, ``E0908`` a malformed expression), else ``None``.
    """

    def __init__(self, message: str, diagnostics: list | None = None, sources: Mapping[str, str] | None = None,
                 *, run_error: RunError | None = None):
        super().__init__(message)
        self.diagnostics = list(diagnostics or [])
        self.sources = dict(sources or {})
        self.run_error = run_error

    def render(self, *, color: bool = False) -> str:
        """The diagnostics as rustc-style text (the message if there are none)."""
        if not self.diagnostics:
            return str(self)
        from ragc.diagnostics.render import render_text

        return render_text(self.diagnostics, self.sources, color=color)

    def __str__(self) -> str:
        base = super().__str__()
        errors = [d for d in self.diagnostics if getattr(d, "is_error", False)]
        if errors:
            first = errors[0]
            where = f"{first.span.file}:{first.span.line}:{first.span.column}: " if first.span else ""
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return f"{base}: {where}{first.code}: {first.message}{more}"
        return base


def _load_registry(registry: Any, cwd: Path) -> tuple[Any, str | None]:
    from ragc.registry.model import Registry

    if isinstance(registry, Registry):
        return registry, str(registry.source) if registry.source else None
    from ragc.registry.loader import load_registry

    load = load_registry(Path(registry) if registry is not None else None, cwd=cwd)
    if not load.ok or load.registry is None:
        raise RagcError("the registry has errors", load.diagnostics, load.sources)
    return load.registry, str(load.path) if load.path else None


def _with_functions(registry: Any, functions: Mapping[str, Any]) -> Any:
    """The registry plus a ``[functions.NAME]`` entry per API function, so
    the checker accepts their names (the runtime calls the given objects)."""
    if not functions:
        return registry
    from ragc.registry.model import FunctionEntry

    extra = {name: FunctionEntry(python=f"ragc.api:{name}", description="given to ragc.load(functions=...)")
             for name in functions if name not in registry.functions}
    if not extra:
        return registry
    reg = registry.model_copy(update={"functions": {**registry.functions, **extra}})
    reg.source = registry.source
    return reg


def journal_spec(journal: Any, registry: Any, program: Any = None) -> Any:
    """What ``journal=`` resolves to, without opening anything: ``None``,
    ``"memory"``, a :class:`Store`, or a SQLite path (relative to the current
    directory). ``"sqlite"`` means: the graph's ``store``, else the
    registry's ``[stores.default]`` (or its only store), else
    ``.ragc/runs.sqlite``.

    Raises:
        RagcError: the store is of a kind that is not available.
    """
    if journal != "sqlite":
        return journal
    # memory stores (episodic, semantic...) are not journals
    stores = {n: s for n, s in (getattr(registry, "stores", None) or {}).items() if not getattr(s, "is_memory", False)}
    name = getattr(program.entry_graph, "store", None) if program is not None else None
    entry = stores.get(name) if name else (stores.get("default") or (next(iter(stores.values()))
                                                                       if len(stores) == 1 else None))
    if entry is None:
        return str(Path(".ragc") / "runs.sqlite")
    if entry.kind == "memory":
        return "memory"
    if entry.kind == "postgres":
        raise RagcError("the `postgres` store is not available yet; use kind = \"sqlite\"")
    return entry.path or str(Path(".ragc") / "runs.sqlite")


def _journal(journal: Any, registry: Any, program: Any, cwd: Path) -> Store | None:
    """The store for ``journal=`` (see :func:`journal_spec`)."""
    return open_store(journal_spec(journal, registry, program), cwd=cwd)


def load(path: str | os.PathLike, registry: Any = None, *, graph: str | None = None,
         functions: Mapping[str, Callable[..., Any] | Any] | None = None, journal: Any = "sqlite",
         workspace: str | os.PathLike | None = None, untrusted: bool = False) -> "Workflow":
    """Compile a ``.rag`` file into a runnable :class:`Workflow`.

    Args:
        path: the ``.rag`` file.
        registry: a ``registry.toml`` path, a loaded
            :class:`~ragc.registry.model.Registry`, or ``None`` to search
            (``./registry.toml``, then the user config).
        graph: the entry graph (default: the only one / the file's stem).
        functions: Python callables (or prep/exec/post objects) for
            ``function`` and router nodes, by name; they are usable as tools
            by name too.
        journal: ``"sqlite"`` (default), ``"memory"``, ``None`` or a path.
        workspace: root of the file and shell tools (default: the
            registry's ``[workspace]``).
        untrusted: check and run under ``[policies.untrusted]``.

    Raises:
        RagcError: the registry or the file has errors (``.diagnostics``),
            or the journal cannot be opened.
    """
    from ragc.compiler import compile_file

    cwd = Path.cwd()
    functions = dict(functions or {})
    reg, reg_path = _load_registry(registry, cwd)
    reg = _with_functions(reg, functions)
    result = compile_file(path, reg, graph=graph, untrusted=untrusted)
    if not result.ok or result.program is None:
        raise RagcError(f"`{path}` has errors", result.diagnostics, result.sources)
    try:
        store = _journal(journal, reg, result.program, cwd)
    except StoreError as e:
        raise RagcError(str(e)) from None
    try:
        engine = Engine(result.program, registry=reg, functions=functions, store=store,
                        workspace=workspace, source=str(Path(path).resolve()), registry_path=reg_path,
                        untrusted=untrusted)
    except RunError as e:
        raise RagcError(f"`{path}` cannot run: {e.message}", sources=result.sources, run_error=e) from None
    return Workflow(engine, sources=result.sources)


def load_run(run: "str | RunInfo", journal: Any = "sqlite", *, lenient: bool = False) -> "Workflow":
    """The workflow of a journaled run, to resume, fork or inspect it from
    another process (what ``ragc resume`` and ``ragc runs fork`` use).

    The run's source file is recompiled against the registry it ran with
    (both paths are stored with the run), so a changed file is noticed
    (``E0913`` on resume unless forced); when the file is gone or no longer
    compiles, the IR stored in the journal is used and
    :attr:`Workflow.warnings` says so. The functions given to
    :func:`load` (``functions=``) are not stored: a run that needs them must
    be resumed through a workflow loaded with them.

    Args:
        run: a run id, or its :class:`RunInfo` (``store.get_run(id)``).
        journal: the journal holding the run: an open :class:`Store`, a
            SQLite path, or ``"sqlite"`` (the default journal, see
            :func:`journal_spec`). The workflow owns it: :meth:`Workflow.close`
            closes it, also when it was passed in open.
        lenient: for inspection: a registry that cannot be read, a function
            that cannot be imported, or a source that does not compile is
            tolerated (no warnings), not an error.

    Returns:
        A :class:`Workflow` whose ``sources`` hold the texts of the source
        and registry (for rendering diagnostics of the run's errors).

    Raises:
        RagcError: the run is not in the journal, its registry cannot be
            read, or its program cannot be prepared (``run_error``).
    """
    from ragc.compiler import compile_file
    from ragc.ir.model import ProgramIR
    from ragc.registry.model import Registry

    cwd = Path.cwd()
    try:
        store = journal if isinstance(journal, Store) else _journal(journal, None, None, cwd)
    except StoreError as e:
        raise RagcError(str(e)) from None
    if store is None:
        raise RagcError("a journaled run needs a journal, not `journal=None`")
    info = run if isinstance(run, RunInfo) else store.get_run(run)
    if info is None:
        raise RagcError(f"no run `{run}` in {getattr(store, 'path', 'the journal')}")
    registry: Any = Registry()
    sources: dict[str, str] = {}
    warnings: list[str] = []
    if info.registry:
        from ragc.registry.loader import load_registry

        reg_load = load_registry(Path(info.registry), cwd=cwd)
        if reg_load.registry is not None:
            registry = reg_load.registry
            sources.update(reg_load.sources)
        elif not lenient:
            raise RagcError(f"cannot read the run's registry `{info.registry}`", reg_load.diagnostics,
                            reg_load.sources)
    untrusted = bool((info.meta or {}).get("untrusted"))
    program = None
    if info.source and Path(info.source).is_file():
        res = compile_file(info.source, registry, graph=info.graph, untrusted=untrusted)
        sources.update(res.sources)
        if res.ok and res.program is not None:
            program = res.program
        elif not lenient:
            warnings.append(f"`{info.source}` no longer compiles; resuming with the graph stored in the journal")
    elif info.source and not lenient:
        warnings.append(f"`{info.source}` is gone; resuming with the graph stored in the journal")
    if program is None:
        program = ProgramIR.model_validate_json(info.ir_json or "{}")
    try:
        engine = Engine(program, registry=registry, store=store, workspace=info.workspace, source=info.source,
                        registry_path=info.registry, untrusted=untrusted, lenient=lenient)
    except RunError as e:
        raise RagcError(f"the run's workflow cannot be prepared: {e.message}", sources=sources,
                        run_error=e) from None
    return Workflow(engine, sources=sources, warnings=warnings)


async def arun(path: str | os.PathLike, inputs: Mapping[str, Any] | None = None, *, registry: Any = None,
               graph: str | None = None, functions: Mapping[str, Any] | None = None, journal: Any = "sqlite",
               workspace: str | os.PathLike | None = None, untrusted: bool = False, run_id: str | None = None,
               on_event: OnEvent = None) -> RunResult:
    """Load the workflow at ``path`` and run it once (the journal is closed
    afterwards); the keyword arguments are those of :func:`load` and
    :meth:`Workflow.run`.

    ::

        result = await ragc.arun("workflows/review.rag", {"question": "..."})

    Returns:
        The :class:`RunResult` (a failed run does not raise; see ``status``).

    Raises:
        RagcError: the workflow or the registry has errors.
        RunError: ``E0912`` for an invalid input, ``E0915`` for a taken id.
    """
    wf = load(path, registry, graph=graph, functions=functions, journal=journal, workspace=workspace,
              untrusted=untrusted)
    try:
        return await wf.run(inputs, run_id=run_id, on_event=on_event)
    finally:
        wf.close()


def run(path: str | os.PathLike, inputs: Mapping[str, Any] | None = None, **kw: Any) -> RunResult:
    """:func:`arun` from synchronous code (starts an event loop; call
    :func:`arun` from async code instead).

    ::

        result = ragc.run("workflows/review.rag", {"question": "..."}, registry="registry.toml")
        print(result.status, result.output)

    Raises:
        RagcError, RunError: see :func:`arun`.
    """
    return anyio.run(lambda: arun(path, inputs, **kw))


class Workflow:
    """A compiled workflow bound to a registry, functions and a journal.

    Build one with :func:`load`, :func:`load_run` or :meth:`from_program`.


    Attributes:
        engine: the :class:`~ragc.runtime.engine.Engine` underneath.
        sources: file name -> text of the ``.rag`` file(s) and registry it
            was compiled from (for rendering the diagnostics of run errors).
        warnings: what :func:`load_run` had to fall back on (one sentence
            each), else empty.
    """

    def __init__(self, engine: Engine, *, sources: Mapping[str, str] | None = None,
                 warnings: Iterable[str] = ()):
        self.engine = engine
        self.sources = dict(sources or {})
        self.warnings = list(warnings)

    @classmethod
    def from_program(cls, program: Any, registry: Any = None, *, functions: Mapping[str, Any] | None = None,
                     journal: Any = None, workspace: str | os.PathLike | None = None,
                     harness_factory: Callable[[], Any] | None = None, source: str | None = None,
                     registry_path: str | None = None, untrusted: bool = False,
                     sources: Mapping[str, str] | None = None) -> "Workflow":
        """A workflow from an IR (``ProgramIR`` or its JSON dict); no journal
        by default.

        Args:
            program: the IR, e.g. ``compile_file(...).program``.
            registry: the loaded :class:`~ragc.registry.model.Registry`
                (``None``: an empty one).
            journal: as for :func:`load` (``"sqlite"`` resolves through
                :func:`journal_spec`), or an open :class:`Store`.
            source, registry_path: where the program and registry came from;
                stored with each run so :func:`load_run` can recompile them.
            untrusted: run under ``[policies.untrusted]``.
            sources: file name -> text, kept as :attr:`sources`.

        Raises:
            RagcError: the program cannot be prepared (an unknown function,
                a malformed expression: ``run_error``) or the journal cannot
                be opened.
        """
        from ragc.ir.model import ProgramIR

        if not isinstance(program, ProgramIR):
            program = ProgramIR.model_validate(program)
        try:
            store = _journal(journal, registry, program, Path.cwd())
            engine = Engine(program, registry=registry, functions=dict(functions or {}), store=store,
                            workspace=workspace, harness_factory=harness_factory, source=source,
                            registry_path=registry_path, untrusted=untrusted)
        except StoreError as e:
            raise RagcError(str(e)) from None
        except RunError as e:
            raise RagcError(f"the program cannot run: {e.message}", sources=sources, run_error=e) from None
        return cls(engine, sources=sources)

    @property
    def program(self) -> Any:
        """The :class:`~ragc.ir.model.ProgramIR`."""
        return self.engine.program

    @property
    def name(self) -> str:
        """The entry graph's name."""
        return self.engine.program.entry

    @property
    def store(self) -> Store | None:
        """The journal (``None`` when loaded with ``journal=None``)."""
        return self.engine.store

    async def run(self, inputs: Mapping[str, Any] | None = None, *, run_id: str | None = None,
                  on_event: OnEvent = None) -> RunResult:
        """Run the workflow to completion, failure or interrupt.

        Args:
            inputs: the run input (checked against the graph's ``input``).
            run_id: a chosen id (default: a fresh one, :func:`new_run_id`).
            on_event: receives every :mod:`ragc.events` event (must not
                block); a list of sinks gets each event in turn.

        Returns:
            A :class:`RunResult` (``status`` ``completed``, ``failed`` or
            ``interrupted``); a failed run carries ``error``, it does not raise.

        Raises:
            RunError: ``E0912`` for an invalid input, ``E0915`` for a taken id.
        """
        return await self.engine.start(dict(inputs or {}), run_id=run_id, listeners=_listeners(on_event))

    def run_sync(self, inputs: Mapping[str, Any] | None = None, **kw: Any) -> RunResult:
        """:meth:`run` from synchronous code (starts an event loop)."""
        return anyio.run(lambda: self.run(inputs, **kw))

    async def resume(self, run_id: str, answer: Any = NO_ANSWER, force: bool = False, *,
                     on_event: OnEvent = None) -> RunResult:
        """Continue a run (see :meth:`ragc.runtime.engine.Engine.resume`).

        Args:
            answer: the answer to the pending interrupt. Leave it out (or
                pass :data:`NO_ANSWER`) to give none: before the interrupt's
                deadline the run stays interrupted, after it the interrupt
                takes its ``default``. ``None`` is an answer (JSON ``null``):
                an interrupt without ``options`` takes any value, ``None``
                included; one with options (strings in a ``.rag`` file)
                takes only those, so ``None`` there is ``E0911``.
            force: continue even if the graph changed since the run started.
            on_event: as for :meth:`run`.

        Raises:
            RunError: ``E0913`` (graph changed; pass ``force=True``),
                ``E0911`` (answer not an option, or no question pending),
                ``E0960`` (another live process owns the run), ``E0915``
                (unknown or completed run).
        """
        return await self.engine.resume(run_id, answer=answer, force=force, listeners=_listeners(on_event))

    def resume_sync(self, run_id: str, answer: Any = NO_ANSWER, force: bool = False, **kw: Any) -> RunResult:
        """:meth:`resume` from synchronous code."""
        return anyio.run(lambda: self.resume(run_id, answer, force, **kw))

    def fork(self, run_id: str, step: int) -> str:
        """Copy run ``run_id`` up to journal record ``step``; returns the new
        run's id (continue it with :meth:`resume`).

        Raises:
            RunError: ``E0915`` (no journal, unknown run, negative step, or
                the copy could not be written).
        """
        return self.engine.fork(run_id, step)

    async def inspect(self, run_id: str) -> dict[str, Any]:
        """The state (channel -> value) run ``run_id`` reached, replayed from
        the journal without executing anything.

        Raises:
            RunError: ``E0915`` (no journal or unknown run).
        """
        return (await self.engine.inspect(run_id)).values

    def inspect_sync(self, run_id: str) -> dict[str, Any]:
        """:meth:`inspect` from synchronous code."""
        return anyio.run(self.inspect, run_id)

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """The most recent runs in the journal (newest first)."""
        store = self.engine.store
        return store.list_runs(limit) if store is not None else []

    def close(self) -> None:
        """Close the journal (pending writes are finished first)."""
        if self.engine.store is not None:
            self.engine.store.close()

    def __enter__(self) -> "Workflow":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listeners(on_event: Any) -> list[Callable[[Event], None]]:
    """``on_event=`` (see :data:`OnEvent`) as the engine's list of sinks."""
    if on_event is None:
        return []
    if callable(on_event):
        return [on_event]
    return list(on_event)
