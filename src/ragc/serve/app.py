"""The ``ragc serve`` ASGI application (Starlette): HTTP API, SSE, WebSocket
JSON-RPC, metrics and the inspector's static files.

:func:`create_app` wires a :class:`~ragc.serve.runs.RunManager`, the
telemetry sinks (:mod:`ragc.observe`) and the routes below. Routes and
message shapes are documented in ``docs/serve.md`` and ``/openapi.json``
(:mod:`ragc.serve.openapi`); JSON-RPC in :mod:`ragc.serve.rpc`.

Authentication: when the app has a ``token``, every ``/api/*``, ``/ws`` and
``/metrics`` request must carry it as ``Authorization: Bearer TOKEN`` or
``?token=TOKEN`` (browsers cannot set headers on ``EventSource`` and
``WebSocket``); a missing or wrong token is ``401`` (a WebSocket is closed
with code ``1008`` before it is accepted). The inspector's static files and
``/healthz`` need no token: they hold no run data.
"""

from __future__ import annotations

import contextlib
import difflib
import hmac
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ragc.runtime.journal import Store
from ragc.serve import messages as M
from ragc.serve.graphview import graph_view
from ragc.serve.openapi import openapi_document
from ragc.serve.rpc import RpcSession
from ragc.serve.runs import POLL_S, RunManager, ServeError

HEARTBEAT_S = 15.0
"""Seconds between SSE keep-alive comments."""

STATIC = Path(str(resources.files("ragc.serve") / "static"))


@dataclass
class ServeSettings:
    """What :func:`create_app` needs.

    Attributes:
        store: the journal.
        registry: the loaded registry; ``registry_path`` its file.
        root: directory of the workflows the server may run.
        workspace: root of file and shell tools (``None``: the registry's).
        token: the bearer token (``None``: no authentication, loopback only;
            the CLI enforces that).
        tracer_provider: an OpenTelemetry tracer provider (``None``: no spans).
        meter_provider: an OpenTelemetry meter provider for the metrics (``None``:
            Prometheus text only).
    """

    store: Store
    registry: Any
    registry_path: str | None
    root: Path
    workspace: str | None = None
    token: str | None = None
    tracer_provider: Any = None
    meter_provider: Any = None


def _error(e: ServeError) -> JSONResponse:
    return JSONResponse({"error": e.to_dict()}, status_code=e.status)


async def _body(request: Request, model: type[BaseModel], *, optional: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip() and optional:
        return model()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ServeError(f"the body is not JSON: {e}", status=400, hint="send a JSON object") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())
        raise ServeError(f"invalid body: {problems}", status=422,
                         hint="see the schema in /openapi.json") from None


def create_app(settings: ServeSettings) -> Starlette:
    """The application (see module docs). Runs start only while it is being
    served (its lifespan opens the task group that runs them)."""
    from ragc.observe import RunMetrics, SpanRecorder

    metrics = RunMetrics(settings.meter_provider)
    sinks: list[Any] = [metrics]
    spans = None
    if settings.tracer_provider is not None:
        spans = SpanRecorder(settings.tracer_provider)
        sinks.append(spans)
    manager = RunManager(settings.store, settings.registry, settings.registry_path, settings.root,
                         workspace=settings.workspace, sinks=tuple(sinks),
                         bind_program=spans.bind if spans is not None else None)
    token = settings.token

    def authorized(scope_headers: Any, query: Any) -> bool:
        if token is None:
            return True
        given = query.get("token")
        auth = scope_headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not authorized(request.headers, request.query_params):
                return JSONResponse({"error": {"message": "missing or wrong token",
                                               "hint": "send `Authorization: Bearer TOKEN` (or `?token=TOKEN`)"}},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
            try:
                return await handler(request)
            except ServeError as e:
                return _error(e)

        return endpoint

    # ------------------------------------------------------------------ shared views

    def _compiled(file: str) -> Any:
        path = manager.workflow_path(file)
        return path, manager.engine_for_file(path)

    async def views(name: str, *args: str) -> Any:
        if name == "graph":
            _, engine = _compiled(args[0])
            return graph_view(engine.program)
        if name == "diff":
            from ragc.ir.diff import diff_programs, render_diff_text

            (old_path, old), (new_path, new) = _compiled(args[0]), _compiled(args[1])
            d = diff_programs(old.program, new.program, old_file=args[0], new_file=args[1])
            a = old_path.read_text(encoding="utf-8").splitlines()
            b = new_path.read_text(encoding="utf-8").splitlines()
            rows = []
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
                for k in range(max(i2 - i1, j2 - j1)):
                    rows.append({"tag": tag, "old": a[i1 + k] if i1 + k < i2 else None,
                                 "new": b[j1 + k] if j1 + k < j2 else None})
            return {"diff": d, "text": render_diff_text(d), "rows": rows}
        raise ServeError(f"unknown view {name}", status=500)

    # ------------------------------------------------------------------ HTTP handlers

    async def healthz(_r: Request) -> Response:
        return JSONResponse({"ok": True, "journal": str(getattr(settings.store, "path", "memory"))})

    async def workflows(_r: Request) -> Response:
        return JSONResponse({"workflows": manager.workflows()})

    async def workflow_graph(r: Request) -> Response:
        return JSONResponse(await views("graph", r.query_params.get("file", "")))

    async def diff(r: Request) -> Response:
        return JSONResponse(await views("diff", r.query_params.get("old", ""), r.query_params.get("new", "")))

    async def runs(r: Request) -> Response:
        if r.method == "POST":
            body = await _body(r, M.StartRun)
            rid = await manager.start(body.file, body.input, graph=body.graph, run_id=body.run_id)
            return JSONResponse({"run_id": rid}, status_code=202)
        try:
            limit = max(1, min(1000, int(r.query_params.get("limit", "50"))))
        except ValueError:
            raise ServeError("`limit` must be an integer", status=400) from None
        return JSONResponse({"runs": manager.list(limit)})

    async def run_detail(r: Request) -> Response:
        return JSONResponse(await manager.detail(r.path_params["run_id"]))

    async def run_events(r: Request) -> Response:
        return JSONResponse({"events": manager.events(r.path_params["run_id"])})

    async def run_stream(r: Request) -> Response:
        rid = r.path_params["run_id"]
        manager.get(rid)
        try:
            start = int(r.headers.get("last-event-id", "-1")) + 1
        except ValueError:
            start = 0

        async def stream() -> AsyncIterator[str]:
            quiet = 0.0
            async for entry in manager.follow(rid, start):
                if entry is None:
                    quiet += POLL_S
                    if quiet >= HEARTBEAT_S:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    continue
                quiet = 0.0
                seq, item = entry
                yield f"id: {seq}\nevent: {item.get('type')}\ndata: {json.dumps(item)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def run_answer(r: Request) -> Response:
        body = await _body(r, M.Answer)
        await manager.resume(r.path_params["run_id"], answer=body.answer)
        return JSONResponse({"run_id": r.path_params["run_id"]}, status_code=202)

    async def run_resume(r: Request) -> Response:
        body = await _body(r, M.Resume, optional=True)
        await manager.resume(r.path_params["run_id"], force=body.force)
        return JSONResponse({"run_id": r.path_params["run_id"]}, status_code=202)

    async def run_cancel(r: Request) -> Response:
        manager.cancel(r.path_params["run_id"])
        return JSONResponse({"run_id": r.path_params["run_id"]}, status_code=202)

    async def metrics_text(_r: Request) -> Response:
        from ragc.observe.metrics import CONTENT_TYPE

        return Response(metrics.render(), media_type=CONTENT_TYPE.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE})

    async def openapi(_r: Request) -> Response:
        return JSONResponse(openapi_document())

    async def index(_r: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    # ------------------------------------------------------------------ WebSocket JSON-RPC

    async def ws_endpoint(ws: WebSocket) -> None:
        if not authorized(ws.headers, ws.query_params):
            await ws.close(code=1008, reason="missing or wrong token")
            return
        await ws.accept()
        send_lock = anyio.Lock()
        subscriptions: dict[str, Any] = {}

        async def send(obj: dict[str, Any]) -> None:
            async with send_lock:
                await ws.send_text(json.dumps(obj))

        async with anyio.create_task_group() as tg:

            async def forward(run_id: str, scope: anyio.CancelScope) -> None:
                with scope:
                    try:
                        async for entry in manager.follow(run_id):
                            if entry is not None:
                                seq, item = entry
                                await send({"jsonrpc": "2.0", "method": "run.event",
                                            "params": {"run_id": run_id, "seq": seq, "event": item}})
                    except (WebSocketDisconnect, RuntimeError, OSError, anyio.ClosedResourceError,
                            anyio.BrokenResourceError):
                        pass  # the client went away (uvicorn raises an OSError then); the receive loop cleans up

            def subscribe(run_id: str) -> int:
                if run_id in subscriptions:
                    raise ServeError(f"already subscribed to {run_id}", status=409)
                manager.get(run_id)
                scope = anyio.CancelScope()
                subscriptions[run_id] = scope
                tg.start_soon(forward, run_id, scope)
                return len(manager.channel(run_id).history)

            def unsubscribe(run_id: str) -> bool:
                scope = subscriptions.pop(run_id, None)
                if scope is None:
                    return False
                scope.cancel()
                return True

            session = RpcSession(manager, views, subscribe, unsubscribe)
            try:
                while True:
                    message = await ws.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    if text is None:
                        data = message.get("bytes") or b""
                        try:
                            text = data.decode("utf-8")
                        except UnicodeDecodeError:
                            text = "\x00not utf-8"
                    reply = await session.handle_text(text)
                    if reply is not None:
                        await send(reply)
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                for scope in subscriptions.values():
                    scope.cancel()
                subscriptions.clear()

    # ------------------------------------------------------------------ the app

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            manager.attach(tg)
            try:
                yield
            finally:
                # runs still going stay `running` in the journal and become
                # resumable once this process is gone (as after a crash)
                tg.cancel_scope.cancel()
        if settings.tracer_provider is not None:
            with contextlib.suppress(Exception):
                settings.tracer_provider.force_flush()

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/openapi.json", openapi),
        Route("/metrics", guarded(metrics_text)),
        Route("/api/workflows", guarded(workflows)),
        Route("/api/workflows/graph", guarded(workflow_graph)),
        Route("/api/diff", guarded(diff)),
        Route("/api/runs", guarded(runs), methods=["GET", "POST"]),
        Route("/api/runs/{run_id}", guarded(run_detail)),
        Route("/api/runs/{run_id}/events", guarded(run_events)),
        Route("/api/runs/{run_id}/stream", guarded(run_stream)),
        Route("/api/runs/{run_id}/answer", guarded(run_answer), methods=["POST"]),
        Route("/api/runs/{run_id}/resume", guarded(run_resume), methods=["POST"]),
        Route("/api/runs/{run_id}/cancel", guarded(run_cancel), methods=["POST"]),
        WebSocketRoute("/ws", ws_endpoint),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.manager = manager
    app.state.metrics = metrics
    return app
