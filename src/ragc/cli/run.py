"""``ragc run``, ``ragc resume`` and ``ragc runs list|show|events|fork``.

Exit codes: 0 the run completed, 1 it failed, 2 usage or I/O error (a
missing file, a registry or workflow with errors -- their diagnostics are
printed --, an invalid input, an unknown run), 3 it is interrupted and waits
for an answer (the question and the exact ``ragc resume RUN --answer ...``
command are printed).

Output: with ``--json``, every event is a JSON line on stdout and the last
line is ``{"status", "run_id", "output", "state", "usage"}`` (plus
``error`` / ``interrupt``). Otherwise a live view on a terminal (plain
progress lines when stderr is not a terminal) on stderr, and the run's
output on stdout: the graph's ``output`` channels, else the last message of
a ``messages`` channel, else the final state. On a terminal, an interrupt is
asked inline (``--no-ask`` turns that off).

Journal: ``--journal FILE`` (or ``memory`` / ``none`` for ``run``); default:
a graph-level ``store``, else the registry's ``[stores.*]`` entry, else
``.ragc/runs.sqlite``; a relative default is at the project root
(:func:`ragc.registry.loader.project_root`), a relative ``--journal`` in the
current directory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from ragc.cli.main import EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError
from ragc.cli.temporal_cli import add_engine_options


def register(subparsers) -> None:
    """Add ``run``, ``resume`` and ``runs`` to ``subparsers``."""
    p = subparsers.add_parser("run", help="run a workflow",
                              description="Compile a .rag workflow against the registry and run it, journaling "
                                          "every step so it can be resumed.")
    p.add_argument("path", metavar="PATH", help="the .rag file")
    p.add_argument("--graph", metavar="NAME", help="the graph to run (default: the file's entry graph)")
    p.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE",
                   help="an input value (parsed as JSON when it parses, else a string); repeatable")
    p.add_argument("--input-file", metavar="FILE.json", type=Path, help="inputs as a JSON object")
    p.add_argument("--registry", metavar="FILE", type=Path,
                   help="registry file (default: registry.toml here or in a parent directory, then "
                        "~/.config/ragc/registry.toml)")
    p.add_argument("--workspace", metavar="DIR", type=Path, help="root of the file and shell tools")
    p.add_argument("--untrusted", action="store_true",
                   help="run under [policies.untrusted]; refused unless `ragc approve` recorded this file "
                        "(or the policy sets require_approval = false)")
    _common(p, run=True)
    p.add_argument("--run-id", metavar="ID", help="choose the run id (default: a fresh one)")
    add_engine_options(p)
    p.set_defaults(handler=_store_errors(cmd_run))

    p = subparsers.add_parser("resume", help="continue a run (after an interrupt, a crash or a failure)")
    p.add_argument("run_id", metavar="RUN_ID", help="the run (a unique prefix is enough)")
    answers = p.add_mutually_exclusive_group()
    answers.add_argument("--answer", "-a", metavar="VALUE", help="the answer to the pending question (a string)")
    answers.add_argument("--answer-json", metavar="JSON",
                         help="the answer as a JSON value (`null`, a number, an object...), for a question "
                              "without options")
    p.add_argument("--force", action="store_true", help="resume even if the graph changed since the run started")
    _common(p)
    add_engine_options(p)
    p.set_defaults(handler=_store_errors(cmd_resume))

    p = subparsers.add_parser("runs", help="list, inspect and fork journaled runs")
    sub = p.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda args: (p.print_help(sys.stderr), EXIT_USAGE)[1])
    q = sub.add_parser("list", help="the most recent runs")
    q.add_argument("--limit", type=int, default=20, metavar="N")
    q.add_argument("--json", action="store_true", help="JSON output")
    q.add_argument("--journal", metavar="FILE", help="the journal (default: the registry's [stores.*] entry, else .ragc/runs.sqlite)")
    add_engine_options(q)
    q.set_defaults(handler=_store_errors(cmd_runs_list))
    q = sub.add_parser("show", help="steps, timings, usage, state and status of a run")
    q.add_argument("run_id", metavar="RUN_ID")
    q.add_argument("--json", action="store_true", help="JSON output")
    q.add_argument("--journal", metavar="FILE", help="the journal (default: the registry's [stores.*] entry, else .ragc/runs.sqlite)")
    add_engine_options(q)
    q.set_defaults(handler=_store_errors(cmd_runs_show))
    q = sub.add_parser("events", help="the recorded events of a run (--follow: tail a live run)")
    q.add_argument("run_id", metavar="RUN_ID")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new events until the run stops running")
    q.add_argument("--journal", metavar="FILE", help="the journal (default: the registry's [stores.*] entry, else .ragc/runs.sqlite)")
    add_engine_options(q)
    q.set_defaults(handler=_store_errors(cmd_runs_events))
    q = sub.add_parser("fork", help="copy a run up to a step into a new run and continue it")
    q.add_argument("run_id", metavar="RUN_ID")
    q.add_argument("--step", type=int, required=True, metavar="N",
                   help="the last journal record (seq, see `ragc runs show`) to keep")
    q.add_argument("--force", action="store_true",
                   help="continue the copy even if the workflow changed since the run (see `resume --force`)")
    _common(q)
    q.set_defaults(handler=_store_errors(cmd_runs_fork))


def _common(p: argparse.ArgumentParser, *, run: bool = False) -> None:
    p.add_argument("--json", action="store_true", help="JSONL events on stdout; the last line is the result")
    p.add_argument("--journal", metavar="FILE",
                   help="the journal file (default: the graph's `store`, the registry's [stores.*] entry, else "
                        ".ragc/runs.sqlite; `memory` or `none`: not durable)" if run else
                        "the journal file (default: the registry's [stores.*] entry, else .ragc/runs.sqlite)")
    p.add_argument("--no-ask", action="store_true", help="never ask an interrupt's question inline")


# --------------------------------------------------------------------------- helpers


def _color(stream) -> bool:
    from ragc.cli.main import use_color

    return use_color(stream)


def _print_diagnostics(diags: list, sources: dict, stream: TextIO) -> None:
    from ragc.diagnostics.render import render_text

    text = render_text(diags, sources, color=_color(stream))
    if text:
        stream.write(text)


def load_registry_file(path: Path | None) -> Any:
    """The :class:`~ragc.registry.loader.RegistryLoad` of ``--registry``
    (``None``: search); a registry with errors has its diagnostics printed.

    Raises:
        CliError: the file cannot be read, or the registry has errors (exit 2).
    """
    from ragc.registry.loader import load_registry

    load = load_registry(path, cwd=Path.cwd())
    if load.io_error:
        raise CliError(load.diagnostics[0].message, hint="pass an existing file with `--registry FILE`")
    if not load.ok:
        _print_diagnostics(load.diagnostics, load.sources, sys.stderr)
        raise CliError("the registry has errors", hint="fix them, or pass another file with `--registry`")
    from ragc.cli.main import settings

    if settings.verbose and load.path is not None:
        sys.stderr.write(f"registry: {load.path.resolve()}\n")
    return load


class _NoJournal(CliError):
    """The journal file does not exist (``runs list`` reports "no runs")."""


def _store_errors(handler: Callable[[Any], int]) -> Callable[[Any], int]:
    """Wrap a command so that a journal that fails while being read or
    written (:class:`~ragc.runtime.journal.StoreError`: a corrupt, locked
    or vanished file) is reported as ``error: ...`` with exit 2, not as an
    internal error."""

    def run(args: Any) -> int:
        from ragc.runtime.journal import StoreError

        try:
            return handler(args)
        except StoreError as e:
            raise CliError(str(e), hint="check the journal file, or pass another one with `--journal FILE`") from None

    run.__doc__ = handler.__doc__
    return run


def journal_store(spec: str | None, registry: Any = None, program: Any = None, *,
                  must_exist: bool = False) -> Any:
    """The store: ``--journal`` if given, else the API's selection rules
    (:func:`ragc.api.journal_spec`). With ``must_exist`` (commands that only
    read or continue runs), a missing SQLite file (or ``none``) is an error
    (:class:`_NoJournal`, exit 2) instead of a new, empty journal.

    Raises:
        CliError: the journal cannot be opened (exit 2).
    """
    from ragc.api import RagcError, journal_spec
    from ragc.runtime.journal import StoreError, open_store

    from ragc.registry.loader import project_root

    # An explicit path is relative to where the user typed it; the default
    # journal lives at the project root (where registry.toml was found).
    base = Path.cwd() if spec is not None else project_root(Path.cwd())
    try:
        if spec is None:
            if registry is None:
                from ragc.registry.loader import load_registry

                load = load_registry(None, cwd=Path.cwd())
                registry = load.registry if load.ok else None
            spec = journal_spec("sqlite", registry, program)
        if spec == "none":
            if must_exist:
                raise _NoJournal("this command needs a journal, not `--journal none`",
                                 hint="pass the journal file the run used with `--journal FILE`")
            return None
        if must_exist and spec != "memory" and not (base / Path(spec).expanduser()).exists():
            raise _NoJournal(f"no journal at `{base / spec}`", hint="runs are journaled where `ragc run` ran; "
                                                                  "pass `--journal FILE`")
        return open_store(spec, cwd=base)
    except StoreError as e:
        raise CliError(str(e)) from None
    except RagcError as e:
        raise CliError(str(e)) from None


_journal_store = journal_store  # the spelling `runs list/show/events` use


def _span(span_ir: Any, sources: dict[str, str]) -> Any:
    """A diagnostics ``Span`` for an IR span (offsets computed from the text)."""
    from ragc.diagnostics.model import Span

    text = sources.get(span_ir.file)
    if text is None:
        try:
            text = Path(span_ir.file).read_text(encoding="utf-8")
            sources[span_ir.file] = text
        except (OSError, UnicodeDecodeError):
            text = ""
    lines = text.split("\n")

    def offset(line: int, col: int) -> int:
        line = max(1, min(line, len(lines)))
        return sum(len(x) + 1 for x in lines[: line - 1]) + max(0, col - 1)

    return Span(span_ir.file, offset(span_ir.line, span_ir.column), offset(span_ir.end_line, span_ir.end_column),
                span_ir.line, span_ir.column, span_ir.end_line, span_ir.end_column)


def _render_run_error(err: Any, sources: dict[str, str], stream: TextIO) -> None:
    """A :class:`RunError` as a diagnostic with its source snippet."""
    from ragc.diagnostics.model import Diagnostic, Label, Severity

    label = None
    if err.span is not None:
        what = f"in activation `{err.activation}`" if err.activation else "here"
        label = Label(_span(err.span, sources), what)
    notes = (f"error kind: {err.kind}",) if err.kind not in ("error", "input") else ()
    hint = err.hint
    if err.code == "E0913":  # the engine speaks Python (`force=True`); here it is the flag
        hint = "to continue with the new graph, add `--force`"
    d = Diagnostic(err.code, Severity.ERROR, err.message, label, help=hint, notes=notes)
    _print_diagnostics([d], sources, stream)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def print_output(result: Any, workflow: Any, stream: TextIO) -> None:
    """The human form of a completed run's result (see module docs);
    ``workflow`` is the :class:`ragc.api.Workflow` that ran it."""
    entry = workflow.program.entry_graph
    state = result.state or {}
    if entry.output is not None:
        outs = result.output or {}
        if len(outs) == 1:
            stream.write(_show(next(iter(outs.values()))) + "\n")
        else:
            for k, v in outs.items():
                text = _show(v)
                stream.write(f"{k}:{chr(10) if chr(10) in text else ' '}{text}\n")
        return
    for name, ch in entry.channels.items():
        if ch.reducer == "messages" and state.get(name):
            last = state[name][-1]
            stream.write((last.get("content") if isinstance(last, dict) else str(last)) + "\n")
            return
    shown = {k: v for k, v in state.items() if not (k == "errors" and not v)}
    stream.write(_show(shown) + "\n")


def _summary(result: Any, wall: float) -> str:
    u = result.usage or {}
    from ragc.cli.live import plural

    parts = [f"{result.status} in {wall:.1f}s", plural(u.get("steps", 0), "step"),
             plural(u.get("model_calls", 0), "model call")]
    tokens = (u.get("input_tokens") or 0) + (u.get("output_tokens") or 0)
    if tokens:
        parts.append(plural(tokens, "token"))
    if u.get("cost_usd"):
        parts.append(f"${u['cost_usd']:.4f}")
    parts.append(f"run {result.run_id}")
    return " · ".join(parts)


def _ask(pending: dict[str, Any], view: Any, context: list[str] = ()) -> Any:  # type: ignore[assignment]
    """Ask an interrupt's question on the terminal, after the state it asks
    about (``context``, :func:`ragc.cli.interrupts.context_lines`); ``None``
    if declined."""
    from rich.console import Console
    from rich.markup import escape
    from rich.prompt import Prompt

    if view is not None:
        view.pause()
    console = Console(stderr=True, color_system="auto" if _color(sys.stderr) else None)
    options = [str(o) for o in pending.get("options") or []]
    default = pending.get("default")
    try:
        for line in context:
            console.print(escape(line), highlight=False)
        console.print(f"[yellow]?[/] [bold]{escape(str(pending.get('question')))}[/]")
        answer = Prompt.ask("answer", console=console, choices=options or None,
                            default=str(default) if default is not None else None)
    except (EOFError, KeyboardInterrupt):
        console.print()
        return None
    finally:
        if view is not None:
            view.resume()
    return answer


def _execute(wf: Any, first: Callable[[list], Any], args: Any, sources: dict[str, str], *,
             run_id: str | None = None) -> int:
    """Run legs of the :class:`ragc.api.Workflow` ``wf`` (``first(sinks)``,
    then a resume per inline answer) with the right event sinks; print the
    outcome; close the journal; return the exit code. Ctrl-C stops the run
    (it stays resumable) and says how to continue."""
    import anyio

    from ragc.cli.interrupts import context_lines
    from ragc.cli.live import JsonlPrinter, LiveView, ProgressPrinter
    from ragc.runtime.errors import RunError

    from ragc.cli.main import settings

    as_json = bool(args.json)
    tty = sys.stderr.isatty() and not as_json
    can_ask = (not as_json and not getattr(args, "no_ask", False) and sys.stdin.isatty() and sys.stderr.isatty())
    view = None
    listeners: list = []
    if settings.verbose and not as_json:
        where = getattr(wf.store, "path", None) or ("memory" if wf.store is not None else "none")
        sys.stderr.write(f"journal: {where}\n")
    if as_json:
        listeners.append(JsonlPrinter(sys.stdout))
    elif settings.quiet:
        pass  # -q: the output and errors only
    elif tty and not settings.verbose:
        from rich.console import Console

        console = Console(stderr=True, color_system="auto" if _color(sys.stderr) else None)
        view = LiveView(wf.program.entry, console=console, program=wf.program)
        listeners.append(view)
    else:
        listeners.append(ProgressPrinter(sys.stderr, verbose=settings.verbose))
    started = time.monotonic()
    # SIGTERM stops a run as Ctrl-C does: journaled `cancelled`, lease released
    in_main = threading.current_thread() is threading.main_thread()
    previous_term = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        if view is not None:
            view.__enter__()
        try:
            result = anyio.run(first, listeners)
            while result.status == "interrupted" and can_ask and result.interrupt:
                answer = _ask(result.interrupt, view, context_lines(wf.program, result.interrupt, result.state))
                if answer is None:
                    break
                rid = result.run_id
                result = anyio.run(lambda ls: wf.resume(rid, answer, on_event=ls), listeners)
        finally:
            if view is not None:
                view.__exit__(None, None, None)
    except RunError as e:
        if as_json:
            # The documented last-line shape, for a run that could not start.
            sys.stdout.write(json.dumps({"status": "error", "run_id": run_id, "output": None, "state": None,
                                         "usage": None, "error": e.to_dict()}) + "\n")
        _render_run_error(e, sources, sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # `cancelled`, not `interrupted`: that word means a run waiting for a human
        if run_id is not None and wf.store is not None:
            sys.stderr.write(f"cancelled; what completed is journaled. Continue with:\n  ragc resume {run_id}\n")
        else:
            sys.stderr.write("cancelled\n")
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous_term)
        wf.close()
    wall = time.monotonic() - started
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, default=str) + "\n")
    if result.status == "completed":
        if not as_json:
            print_output(result, wf, sys.stdout)
            if not settings.quiet:
                sys.stderr.write(_summary(result, wall) + "\n")
        return EXIT_OK
    if result.status == "interrupted":
        # On stderr even with --json (stdout stays JSON lines): a script needs the command too.
        pending = result.interrupt or {}
        options = pending.get("options") or []
        if not as_json:  # what the question is about, before the question
            for line in context_lines(wf.program, pending, result.state):
                sys.stderr.write(line + "\n")
        sys.stderr.write(f"interrupted: {pending.get('question')}\n")
        if options:
            sys.stderr.write("  options: " + ", ".join(str(o) for o in options) + "\n")
        if pending.get("default") is not None:
            sys.stderr.write(f"  default: {pending.get('default')}\n")
        example = options[0] if options else "VALUE"
        sys.stderr.write(f"continue with:\n  ragc resume {result.run_id} --answer {_quote(str(example))}\n")
        return EXIT_INTERRUPTED
    if result.error is not None and not as_json:
        _render_run_error(result.error, sources, sys.stderr)
        sys.stderr.write(_summary(result, wall) + "\n")
        sys.stderr.write(f"  = help: after fixing the cause, `ragc resume {result.run_id}` continues the run\n")
    return EXIT_ERRORS


def _terminate(signum: int, frame: Any) -> None:
    # the Ctrl-C path, not an exception raised at an arbitrary point: asyncio's
    # SIGINT handler cancels the run's task, which journals `cancelled`
    os.kill(os.getpid(), signal.SIGINT)


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _inputs(args: Any, schema: dict) -> dict[str, Any]:
    from ragc.runtime.inputs import parse_cli_inputs

    values: dict[str, Any] = {}
    if args.input_file is not None:
        try:
            data = json.loads(args.input_file.read_text(encoding="utf-8"))
        except OSError as e:
            raise CliError(f"cannot read `{args.input_file}`: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise CliError(f"`{args.input_file}` is not JSON: {e.msg} (line {e.lineno})") from None
        if not isinstance(data, dict):
            raise CliError(f"`{args.input_file}` must hold a JSON object of inputs")
        values.update(data)
    try:
        values.update(parse_cli_inputs(args.input, schema))
    except ValueError as e:
        raise CliError(str(e), hint="write inputs as KEY=VALUE") from None
    return values


# --------------------------------------------------------------------------- commands


def _approval_required(registry: Any) -> bool:
    """Whether ``run --untrusted`` needs ``ragc approve`` first: unless the
    registry's ``[policies.untrusted]`` sets ``require_approval = false``
    (an unreadable registry or one without that policy requires it: when in
    doubt, a workflow nobody reviewed does not run)."""
    policy = registry.policies.get("untrusted") if registry is not None else None
    return True if policy is None else policy.require_approval is not False


def cmd_run(args: Any) -> int:
    """``ragc run PATH [--graph NAME] [--input K=V ...] [--input-file F] [--registry F] [--json] ...``."""
    from ragc.api import RagcError, Workflow, new_run_id
    from ragc.compiler import READ_ERROR, compile_file

    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"no such file: `{args.path}`", hint="give the path of a .rag file")
    load = load_registry_file(args.registry)
    from ragc.check.approvals import is_generated

    # a file `ragc new` wrote is untrusted whether or not the flag says so
    generated = is_generated(path)
    untrusted = args.untrusted or generated
    if untrusted and _approval_required(load.registry):
        from ragc.check.approvals import is_approved

        if not is_approved(path):
            what = "was written by `ragc new` and is not approved" if generated else "is not approved to run as untrusted"
            raise CliError(f"`{args.path}` {what}",
                           hint=f"review it, then run `ragc approve {args.path}`")
    result = compile_file(path, load.registry, graph=args.graph, untrusted=untrusted)
    if any(d.code == READ_ERROR for d in result.diagnostics):
        raise CliError(result.diagnostics[0].message)
    sources = {**load.sources, **result.sources}
    if not result.ok or result.program is None:
        diags = list(load.diagnostics) + list(result.diagnostics)
        if args.json:
            from ragc.diagnostics.render import render_json

            sys.stdout.write(json.dumps({"status": "invalid", "run_id": None, "output": None, "state": None,
                                         "usage": None, **render_json(diags)}, ensure_ascii=False) + "\n")
        _print_diagnostics(diags, sources, sys.stderr)
        return EXIT_USAGE
    warnings = [d for d in list(load.diagnostics) + list(result.diagnostics)
                if d.severity.value == "warning" and d.code != "W0801"]
    if warnings and not args.json:
        _print_diagnostics(warnings, sources, sys.stderr)
    program = result.program
    inputs = _inputs(args, program.entry_graph.input_schema)
    if args.engine == "temporal":
        from ragc.cli.temporal_cli import start_and_wait, temporal_workflow

        try:
            twf = temporal_workflow(args, program, load, sources, path)
        except RagcError as e:
            if e.run_error is None:
                raise CliError(str(e)) from None
            _render_run_error(e.run_error, sources, sys.stderr)
            return EXIT_USAGE
        rid = args.run_id or new_run_id()
        return _on_temporal(args, lambda: start_and_wait(args, twf, inputs, rid), sources, twf, rid)
    store = journal_store(args.journal, load.registry, program)
    try:
        wf = Workflow.from_program(program, load.registry, journal=store,
                                   workspace=str(args.workspace) if args.workspace else None,
                                   source=str(path.resolve()),
                                   registry_path=str(load.path.resolve()) if load.path else None,
                                   untrusted=untrusted, sources=sources)
    except RagcError as e:
        if store is not None:
            store.close()
        if e.run_error is None:
            raise CliError(str(e)) from None
        _render_run_error(e.run_error, sources, sys.stderr)
        return EXIT_USAGE
    run_id = args.run_id or new_run_id()
    return _execute(wf, lambda ls: wf.run(inputs, run_id=run_id, on_event=ls), args, sources, run_id=run_id)


def _on_temporal(args: Any, go: Callable[[], dict[str, Any]], sources: dict[str, str], wf: Any,
                 run_id: str) -> int:
    """Run ``go()`` (a :mod:`ragc.cli.temporal_cli` call returning a Temporal
    run's result dict) and print its outcome as :func:`_execute` prints a
    local run's (the resume hint names ``--engine temporal``); leaves the
    process with ``os._exit`` (:func:`ragc.cli.temporal_cli.hard_exit`)."""
    from ragc.api import RunError, RunResult
    from ragc.cli.temporal_cli import hard_exit, print_error

    from ragc.cli.main import settings

    def body(a: Any) -> int:
        started = time.monotonic()
        try:
            res = go()
        except RunError as e:
            return print_error(e, a.json, run_id)
        except KeyboardInterrupt:
            sys.stderr.write(f"stopped waiting; the run goes on on the server:\n"
                             f"  ragc runs show {run_id} --engine temporal\n")
            return 130
        wall = time.monotonic() - started
        err = RunError.from_dict(res["error"]) if res.get("error") else None
        result = RunResult(res["status"], res["run_id"], res.get("output"), res.get("state") or {},
                           res.get("usage") or {}, err, res.get("interrupt"), res.get("result"))
        if a.json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, default=str) + "\n")
        if result.status == "completed":
            if not a.json:
                if wf is not None:
                    print_output(result, wf, sys.stdout)
                elif isinstance(result.output, dict) and len(result.output) == 1:
                    sys.stdout.write(_show(next(iter(result.output.values()))) + "\n")
                else:
                    sys.stdout.write(_show(result.output if result.output is not None else result.state) + "\n")
                if not settings.quiet:
                    sys.stderr.write(_summary(result, wall) + " · temporal\n")
            return EXIT_OK
        if result.status == "interrupted":
            pending = result.interrupt or {}
            options = pending.get("options") or []
            sys.stderr.write(f"interrupted: {pending.get('question')}\n")
            if options:
                sys.stderr.write("  options: " + ", ".join(str(o) for o in options) + "\n")
            if pending.get("default") is not None:
                sys.stderr.write(f"  default: {pending.get('default')}\n")
            example = options[0] if options else "VALUE"
            sys.stderr.write(f"continue with:\n  ragc resume {result.run_id} --answer {_quote(str(example))} "
                             "--engine temporal\n")
            return EXIT_INTERRUPTED
        if err is not None and not a.json:
            _render_run_error(err, sources, sys.stderr)
            sys.stderr.write(_summary(result, wall) + " · temporal\n")
        return EXIT_ERRORS

    return hard_exit(body)(args)


def _find_run(store: Any, run_id: str) -> Any:
    info = store.get_run(run_id)
    if info is not None:
        return info
    matches = store.find_runs(run_id) if hasattr(store, "find_runs") and run_id else []
    if len(matches) == 1:
        return store.get_run(matches[0])
    if len(matches) > 1:
        raise CliError(f"`{run_id}` matches several runs: {', '.join(matches[:5])}", hint="give more of the id")
    raise CliError(f"no run `{run_id}` in {getattr(store, 'path', 'the journal')}",
                   hint="list runs with `ragc runs list`")


def _workflow_for(info: Any, store: Any, *, lenient: bool = False) -> Any:
    """The :class:`ragc.api.Workflow` of a journaled run
    (:func:`ragc.api.load_run`), its fallbacks reported as warnings on
    stderr.

    Raises:
        CliError: the run's registry or workflow cannot be prepared (exit 2).
    """
    from ragc.api import RagcError, load_run

    try:
        wf = load_run(info, store, lenient=lenient)
    except RagcError as e:
        raise CliError(str(e), hint=e.run_error.hint if e.run_error is not None else None) from None
    for warning in wf.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return wf


def _answer(args: Any) -> Any:
    """``--answer`` (a string) or ``--answer-json`` (any JSON value, ``null``
    included), else :data:`ragc.api.NO_ANSWER`.

    Raises:
        CliError: ``--answer-json`` is not JSON (exit 2).
    """
    from ragc.api import NO_ANSWER

    if args.answer is not None:
        return args.answer
    if getattr(args, "answer_json", None) is None:
        return NO_ANSWER
    try:
        return json.loads(args.answer_json)
    except json.JSONDecodeError as e:
        raise CliError(f"`--answer-json {args.answer_json}` is not JSON: {e.msg}",
                       hint="quote a string answer as JSON (`'\"text\"'`), or pass it with `--answer`") from None


def cmd_resume(args: Any) -> int:
    """``ragc resume RUN_ID [--answer VALUE | --answer-json JSON] [--force] [--json]``."""
    answer = _answer(args)
    if args.engine == "temporal":
        from ragc.cli.temporal_cli import answer_and_wait

        return _on_temporal(args, lambda: answer_and_wait(args, answer), {}, None, args.run_id)
    store = journal_store(args.journal, must_exist=True)
    if store is None:
        raise CliError("resume needs a journal")
    info = _find_run(store, args.run_id)
    wf = _workflow_for(info, store)
    rid, force = info.id, args.force
    return _execute(wf, lambda ls: wf.resume(rid, answer, force, on_event=ls), args, wf.sources, run_id=rid)


def cmd_runs_fork(args: Any) -> int:
    """``ragc runs fork RUN_ID --step N [--force]``: copy, then resume the copy."""
    from ragc.runtime.errors import RunError

    store = journal_store(args.journal, must_exist=True)
    info = _find_run(store, args.run_id)
    wf = _workflow_for(info, store)
    try:
        new_id = wf.fork(info.id, args.step)
    except RunError as e:
        raise CliError(e.message, hint=e.hint) from None
    if not args.json:
        sys.stderr.write(f"forked {info.id} at step {args.step} into {new_id}\n")
    return _execute(wf, lambda ls: wf.resume(new_id, force=args.force, on_event=ls), args, wf.sources,
                    run_id=new_id)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def cmd_runs_list(args: Any) -> int:
    """``ragc runs list [--limit N] [--json] [--engine temporal ...]``."""
    if args.engine == "temporal":
        from ragc.cli.temporal_cli import runs_on_temporal

        return runs_on_temporal(args, "list")
    try:
        store = _journal_store(args.journal, must_exist=True)
    except _NoJournal as e:
        if args.journal is not None:
            raise  # a journal named on the command line must exist
        store, missing = None, str(e)  # no journal yet: no runs (a corrupt one is still an error)
    runs = store.list_runs(args.limit) if store is not None else []
    statuses = {r.id: _status_of(store, r) for r in runs}
    if args.json:
        for r in runs:
            sys.stdout.write(json.dumps({"run_id": r.id, "graph": r.graph, "status": statuses[r.id],
                                         "journal_status": r.status, "created": r.created,
                                         "updated": r.updated, "usage": r.usage, "parent": r.parent}) + "\n")
        return EXIT_OK
    if not runs:
        sys.stdout.write(f"no runs yet ({missing})\n" if store is None else f"no runs yet in {getattr(store, 'path', 'the journal')}\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("run", "graph", "status", "steps", "model calls", "cost", "started", "updated"):
        table.add_column(col, no_wrap=True, overflow="fold" if col == "graph" else "ignore")
    for r in runs:
        u = r.usage or {}
        st = statuses[r.id]
        style = STATUS_STYLES.get(st, "")
        table.add_row(r.id, r.graph, f"[{style}]{st}[/]" if style else st, str(u.get("steps", "-")),
                      str(u.get("model_calls", "-")), f"${u['cost_usd']:.4f}" if u.get("cost_usd") else "-",
                      _when(r.created), _when(r.updated))
    tty = sys.stdout.isatty()
    Console(file=sys.stdout, highlight=False, width=None if tty else 200,
            color_system="auto" if _color(sys.stdout) else None).print(table)
    stopped = [r for r in runs if statuses[r.id] in ("crashed", "cancelled")]
    if stopped:
        sys.stdout.write(f"continue a {statuses[stopped[0].id]} run with: ragc resume {stopped[0].id}\n")
    return EXIT_OK


STATUS_STYLES = {"completed": "green", "failed": "red", "waiting": "yellow", "crashed": "red bold",
                 "cancelled": "magenta", "running": "cyan"}


def _status_of(store: Any, info: Any) -> str:
    """The operator's status of a run (:func:`ragc.runtime.journal.display_status`):
    ``crashed`` for a ``running`` run whose owner is gone, ``waiting`` for
    one waiting for a human."""
    from ragc.runtime.journal import display_status

    lease = store.lease(info.id) if info.status == "running" else None
    return display_status(info, lease)


def _resume_hint(store: Any, info: Any, status: str) -> str | None:
    """What ``runs show`` says about continuing the run (``None`` when
    nothing: completed, or running with a live owner)."""
    if status == "crashed":
        lease = store.lease(info.id)
        who = f"process {lease.pid} on {lease.host} is gone" if lease else "its process ended without a word"
        return f"  crashed: {who}; continue with: ragc resume {info.id}\n"
    if status == "cancelled":
        return f"  cancelled; continue with: ragc resume {info.id}\n"
    if status == "failed":
        return f"  after fixing the cause, continue with: ragc resume {info.id}\n"
    if status == "running":
        lease = store.lease(info.id)
        if lease is not None:
            return f"  running in process {lease.pid} on {lease.host}\n"
    return None


def cmd_runs_show(args: Any) -> int:
    """``ragc runs show RUN_ID [--json]``: status, usage, steps with timings,
    the pending question, and the state rebuilt from the journal
    (``--engine temporal``: the run's status query on the server)."""
    if args.engine == "temporal":
        from ragc.cli.temporal_cli import runs_on_temporal

        return runs_on_temporal(args, "show")
    store = _journal_store(args.journal, must_exist=True)
    info = _find_run(store, args.run_id)
    records = store.records(info.id)
    from ragc.runtime.records import Answer, Effect, JoinOutcome, JournalFormatError, NodeCompleted

    steps = []
    effects = 0
    for r in records:
        try:
            rec = r.typed()
        except JournalFormatError as e:
            raise CliError(str(e), hint="the journal was written by another ragc version or damaged") from None
        if isinstance(rec, Effect):
            effects += 1
            continue
        item = {"seq": r.seq, "kind": r.kind, "activation": r.activation, "ts": r.ts}
        if isinstance(rec, NodeCompleted):
            item.update(duration_s=rec.duration_s, route=rec.label, usage=rec.usage)
        elif isinstance(rec, JoinOutcome):
            item.update(outcome=rec.outcome, counts=rec.counts)
        elif isinstance(rec, Answer):
            item.update(answer=rec.value)
        steps.append(item)
    status = _status_of(store, info)
    state = None
    state_note = None
    try:
        state = _workflow_for(info, store, lenient=True).inspect_sync(info.id)
    except (CliError, Exception) as e:  # noqa: BLE001 - the rest of the report is still useful
        state_note = f"state not available: {e}"
    if args.json:
        out = {"run_id": info.id, "graph": info.graph, "status": status, "journal_status": info.status,
               "created": info.created,
               "updated": info.updated, "source": info.source, "parent": info.parent, "usage": info.usage,
               "error": info.error, "interrupt": info.interrupt, "output": info.output, "steps": steps,
               "effects": effects, "state": state}
        sys.stdout.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")
        return EXIT_OK
    w = sys.stdout.write
    w(f"run {info.id}  graph {info.graph}  status {status}\n")
    hint = _resume_hint(store, info, status)
    if hint:
        w(hint)
    w(f"  started {_when(info.created)}  updated {_when(info.updated)}")
    w(f"  source {info.source}\n" if info.source else "\n")
    if info.parent:
        w(f"  forked from {info.parent}\n")
    u = info.usage or {}
    if u:
        from ragc.cli.live import plural

        tokens = (u.get("input_tokens") or 0) + (u.get("output_tokens") or 0)
        w(f"  usage: {plural(u.get('steps', 0), 'step')}, {plural(u.get('model_calls', 0), 'model call')}, "
          f"{plural(u.get('tool_calls', 0), 'tool call')}, {plural(tokens, 'token')}, ${u.get('cost_usd', 0.0):.4f}\n")
    if info.error:
        w(f"  error: {info.error.get('code')}: {info.error.get('message')}\n")
    if info.interrupt:
        q = info.interrupt
        w(f"  waiting for an answer: {q.get('question')}\n")
        if q.get("options"):
            w(f"    options: {', '.join(map(str, q['options']))}\n")
        w(f"    ragc resume {info.id} --answer {_quote(str((q.get('options') or ['VALUE'])[0]))}\n")
    w(f"steps ({len(steps)} record{'s' if len(steps) != 1 else ''}, {effects} model/tool "
      f"call{'s' if effects != 1 else ''} journaled):\n")
    for s in steps:
        if s["kind"] == "node_completed":
            route = f" -> {s['route']}" if s.get("route") else ""
            dur = f" {s['duration_s']:.3f}s" if s.get("duration_s") is not None else ""
            w(f"  {s['seq']:>5}  {s['activation']}{route}{dur}\n")
        elif s["kind"] == "join_outcome":
            c = s.get("counts") or {}
            w(f"  {s['seq']:>5}  join of {s['activation']}: {s.get('outcome')} ({c.get('succeeded', 0)} ok, "
              f"{c.get('failed', 0)} failed, {c.get('cancelled', 0)} cancelled, {c.get('skipped', 0)} skipped)\n")
        elif s["kind"] == "interrupt":
            w(f"  {s['seq']:>5}  {s['activation']} asked a question\n")
        elif s["kind"] == "answer":
            w(f"  {s['seq']:>5}  {s['activation']} answered {s.get('answer')!r}\n")
        else:
            w(f"  {s['seq']:>5}  resumed\n")
    if state is not None:
        w("state:\n")
        for line in _show(state).splitlines():
            w(f"  {line}\n")
    elif state_note:
        w(f"{state_note}\n")
    return EXIT_OK


FOLLOW_POLL_S = 0.25
"""How often ``runs events --follow`` looks for new events (seconds)."""
LIVE_STATUSES = ("running", "pending")


def _print_event(ev: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(ev, ensure_ascii=False, default=str) + "\n")
    else:
        ts = time.strftime("%H:%M:%S", time.localtime(ev.get("ts", 0)))
        kind = ev.get("type", "?")
        rest = {k: v for k, v in ev.items() if k not in ("type", "ts", "run_id")}
        detail = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in rest.items()
                          if v not in (None, (), [], {}))
        sys.stdout.write(f"{ts} {kind} {detail}\n")
    sys.stdout.flush()


def cmd_runs_events(args: Any) -> int:
    """``ragc runs events RUN_ID [--json] [--follow]``: the recorded events;
    with ``--follow``, keep printing new ones (like ``tail -f``) until the
    run stops running (completed, failed, interrupted), then exit 0; Ctrl-C
    stops following (exit 130). ``--engine temporal``: the run's history
    on the server (``--follow`` is local only)."""
    if args.engine == "temporal":
        from ragc.cli.temporal_cli import runs_on_temporal

        return runs_on_temporal(args, "events")
    from ragc.cli.main import settings

    store = _journal_store(args.journal, must_exist=True)
    info = _find_run(store, args.run_id)
    shown = 0
    last = None
    try:
        while True:
            seq = store.last_seq(info.id)
            if seq != last:  # read the events only when the journal grew
                last = seq
                events = store.events(info.id)
                for ev in events[shown:]:
                    _print_event(ev, args.json)
                shown = len(events)
            if not getattr(args, "follow", False):
                return EXIT_OK
            now = store.get_run(info.id)
            # a `running` run whose owner died is `crashed`: stop following it
            status = _status_of(store, now) if now is not None else "gone"
            if now is None or status not in LIVE_STATUSES:
                if store.last_seq(info.id) == last:  # nothing arrived after the status changed
                    if not args.json and not settings.quiet:
                        sys.stderr.write(f"run {info.id} is {status}\n")
                    return EXIT_OK
                continue
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return 130
