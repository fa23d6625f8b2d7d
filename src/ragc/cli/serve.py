"""``ragc serve``: the gateway API and web inspector on one local server.

``ragc serve [--host 127.0.0.1] [--port 8765] [--token T] [--root DIR]
[--registry FILE] [--journal FILE] [--workspace DIR] [--otlp-endpoint URL]``

Bound to 127.0.0.1 by default. A token (``--token`` or ``RAGC_SERVE_TOKEN``)
is then optional; bound to any other address it is required, and the server
refuses to start without one. Runs use the same journal as ``ragc run``
(``.ragc/runs.sqlite`` under the current directory unless ``--journal`` or
the registry's ``[stores.*]`` say otherwise). Traces and metrics go over
OTLP when an endpoint is given (``--otlp-endpoint`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``); otherwise no spans are made and metrics
are only served as Prometheus text at ``/metrics``. See ``docs/serve.md``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ragc.cli.main import CliError

LOOPBACK_NAMES = ("localhost",)


def register(subparsers) -> None:
    """Add ``serve``."""
    p = subparsers.add_parser("serve", help="serve the gateway API and the web inspector",
                              description="Serve the HTTP/WebSocket gateway API, Prometheus metrics and the web "
                                          "inspector (docs/serve.md).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else "
                                                       "needs a token)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--token", default=None, help="bearer token clients must send (default: $RAGC_SERVE_TOKEN)")
    p.add_argument("--root", type=Path, default=Path("."), help="directory of the .rag files it may run "
                                                                "(default: the current directory)")
    p.add_argument("--registry", type=Path, default=None, help="registry.toml (default: the usual search)")
    p.add_argument("--journal", default=None, help="SQLite journal (default: as `ragc run`)")
    p.add_argument("--workspace", type=Path, default=None, help="root of file and shell tools")
    p.add_argument("--otlp-endpoint", default=None, help="export traces over OTLP/HTTP to this URL "
                                                        "(default: $OTEL_EXPORTER_OTLP_ENDPOINT; none: off)")
    p.set_defaults(handler=cmd_serve)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: Any) -> int:
    """Run the server until interrupted (exit 0), or refuse to start (exit 2)."""
    try:
        import uvicorn

        from ragc.observe import otlp_endpoint, otlp_meter_provider, tracer_provider
        from ragc.serve.app import ServeSettings, create_app
    except ImportError as e:
        raise CliError(f"`ragc serve` needs the serve extra ({e.name} is missing)",
                       hint="pip install 'ragc[serve]'") from None
    from ragc.cli.run import journal_store, load_registry_file

    token = args.token or os.environ.get("RAGC_SERVE_TOKEN") or None
    if not is_loopback(args.host) and not token:
        raise CliError(f"refusing to serve on {args.host} without a token",
                       hint="pass --token TOKEN (or set RAGC_SERVE_TOKEN), or bind 127.0.0.1")
    root = args.root
    if not root.is_dir():
        raise CliError(f"no such directory: `{root}`", hint="pass the folder of your .rag files with --root")
    load = load_registry_file(args.registry)
    store = journal_store(args.journal, load.registry)
    if store is None:
        raise CliError("`ragc serve` needs a journal, not `--journal none`")
    endpoint = otlp_endpoint(args.otlp_endpoint)
    try:
        tracing = tracer_provider(endpoint=endpoint) if endpoint else None
        metering = otlp_meter_provider(endpoint) if endpoint else None
    except RuntimeError as e:
        raise CliError(str(e), hint="pip install 'ragc[otlp]'") from None
    settings = ServeSettings(store=store, registry=load.registry,
                             registry_path=str(load.path.resolve()) if load.path else None, root=root,
                             workspace=str(args.workspace) if args.workspace else None, token=token,
                             tracer_provider=tracing, meter_provider=metering)
    app = create_app(settings)
    # check the port first: uvicorn reports a taken port with a traceback-free log line but exits 1
    try:
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as e:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {e.strerror}",
                       hint="pick another --port") from None
    shown = f"[{args.host}]" if ":" in args.host else args.host
    sys.stderr.write(f"ragc serve: http://{shown}:{args.port}/ (journal {getattr(store, 'path', store)}; "
                     f"root {root.resolve()}{'; token required' if token else ''}"
                     f"{'; traces to ' + endpoint if endpoint else ''})\n")
    sys.stderr.flush()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    finally:
        store.close()
        for provider in (tracing, metering):
            if provider is not None:
                provider.shutdown()
    return 0
