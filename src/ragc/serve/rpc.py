"""JSON-RPC 2.0 over one WebSocket (``/ws``): the gateway's programmatic API.

Protocol: https://www.jsonrpc.org/specification. One JSON object per text
message; batches (arrays) are not supported and answered with ``-32600``.
Methods (``params`` validated by the models of :mod:`ragc.serve.messages`):

===================  =====================================  =========================================
method               params                                 result
===================  =====================================  =========================================
``workflows.list``   ``{}``                                 ``{"workflows": [path, ...]}``
``workflows.graph``  ``{"file"}``                           the laid-out graph (``ragc.serve.graphview``)
``workflows.diff``   ``{"old", "new"}``                     ``{"diff", "text", "rows"}``
``runs.list``        ``{"limit"?}``                         ``{"runs": [RunSummary, ...]}``
``runs.get``         ``{"run_id"}``                         the run's detail (as ``GET /api/runs/ID``)
``runs.start``       ``{"file", "input"?, "graph"?,         ``{"run_id"}``
                     "run_id"?}``
``runs.subscribe``   ``{"run_id"}``                         ``{"run_id", "history": N}``, then
                                                            notifications (below)
``runs.unsubscribe`` ``{"run_id"}``                         ``{"run_id"}``
``runs.answer``      ``{"run_id", "answer"}``               ``{"run_id"}``
``runs.resume``      ``{"run_id", "force"?}``               ``{"run_id"}``
``runs.cancel``      ``{"run_id"}``                         ``{"run_id"}``
===================  =====================================  =========================================

A subscription sends every event of the run, the history first, as the
notification ``{"jsonrpc": "2.0", "method": "run.event", "params":
{"run_id", "seq", "event"}}`` (``seq`` counts from 0); it lasts until
``runs.unsubscribe`` or the socket closes.

Errors: ``-32700`` unparsable JSON, ``-32600`` not a request object,
``-32601`` unknown method, ``-32602`` invalid params (``data.errors`` from
pydantic), ``-32000`` refused by the server (``data``: ``{"status",
"code"?, "hint"?}``, ``status`` the HTTP status the same refusal gets).
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from pydantic import BaseModel, ValidationError

from ragc.serve import messages as M
from ragc.serve.runs import RunManager, ServeError

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, SERVER_ERROR = -32700, -32600, -32601, -32602, -32000


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response object."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


class RpcSession:
    """The JSON-RPC state of one WebSocket connection.

    Args:
        manager: the server's run manager.
        views: ``(name, *args) -> awaitable result`` for the methods the HTTP
            app also serves (``graph``, ``diff``, ``detail``); keeps one
            implementation of each.
        subscribe: ``(run_id) -> int`` starts forwarding a run's events to
            this connection (the app owns the socket and its tasks); returns
            the number of past events it sends first.
        unsubscribe: ``(run_id) -> bool`` stops it.
    """

    def __init__(self, manager: RunManager, views: Callable[..., Awaitable[Any]],
                 subscribe: Callable[[str], int], unsubscribe: Callable[[str], bool]):
        self.manager = manager
        self._views = views
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._methods: dict[str, tuple[type[BaseModel], Callable[[Any], Awaitable[Any]]]] = {
            "workflows.list": (M.Empty, self._workflows),
            "workflows.graph": (M.FileRef, self._graph),
            "workflows.diff": (M.DiffFiles, self._diff),
            "runs.list": (M.ListRuns, self._list),
            "runs.get": (M.RunRef, self._get),
            "runs.start": (M.StartRun, self._start),
            "runs.subscribe": (M.RunRef, self._sub),
            "runs.unsubscribe": (M.RunRef, self._unsub),
            "runs.answer": (M.RunAnswer, self._answer),
            "runs.resume": (M.RunResume, self._resume),
            "runs.cancel": (M.RunRef, self._cancel),
        }

    @property
    def methods(self) -> list[str]:
        """The method names, sorted."""
        return sorted(self._methods)

    async def handle_text(self, text: str) -> dict[str, Any] | None:
        """The response to one message (``None`` for a notification, which has no ``id``)."""
        try:
            msg = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return error_response(None, PARSE_ERROR, f"parse error: {e}")
        if not isinstance(msg, dict):
            return error_response(None, INVALID_REQUEST, "invalid request: send one JSON-RPC request object "
                                                         "(batches are not supported)")
        req_id = msg.get("id")
        if msg.get("jsonrpc") != "2.0" or not isinstance(msg.get("method"), str) or \
                not isinstance(req_id, (str, int, type(None))) or isinstance(req_id, bool):
            return error_response(req_id if isinstance(req_id, (str, int)) else None, INVALID_REQUEST,
                                  'invalid request: needs "jsonrpc": "2.0", a string "method" and a string '
                                  'or integer "id"')
        notification = "id" not in msg
        entry = self._methods.get(msg["method"])
        if entry is None:
            return None if notification else error_response(
                req_id, METHOD_NOT_FOUND, f"method not found: {msg['method']}", {"methods": self.methods})
        model, fn = entry
        params = msg.get("params", {})
        if not isinstance(params, dict):
            return None if notification else error_response(req_id, INVALID_PARAMS,
                                                            "invalid params: give params as an object")
        try:
            parsed = model.model_validate(params)
        except ValidationError as e:
            return None if notification else error_response(
                req_id, INVALID_PARAMS, "invalid params",
                {"errors": [{"loc": list(x["loc"]), "msg": x["msg"]} for x in e.errors()]})
        try:
            result = await fn(parsed)
        except ServeError as e:
            return None if notification else error_response(req_id, SERVER_ERROR, e.message,
                                                            {"status": e.status, **e.to_dict()})
        return None if notification else {"jsonrpc": "2.0", "id": req_id, "result": result}

    # ------------------------------------------------------------------ methods

    async def _workflows(self, _p: M.Empty) -> Any:
        return {"workflows": self.manager.workflows()}

    async def _graph(self, p: M.FileRef) -> Any:
        return await self._views("graph", p.file)

    async def _diff(self, p: M.DiffFiles) -> Any:
        return await self._views("diff", p.old, p.new)

    async def _list(self, p: M.ListRuns) -> Any:
        return {"runs": self.manager.list(p.limit)}

    async def _get(self, p: M.RunRef) -> Any:
        return await self.manager.detail(p.run_id)

    async def _start(self, p: M.StartRun) -> Any:
        return {"run_id": await self.manager.start(p.file, p.input, graph=p.graph, run_id=p.run_id)}

    async def _sub(self, p: M.RunRef) -> Any:
        return {"run_id": p.run_id, "history": self._subscribe(p.run_id)}

    async def _unsub(self, p: M.RunRef) -> Any:
        if not self._unsubscribe(p.run_id):
            raise ServeError(f"not subscribed to {p.run_id}", status=409)
        return {"run_id": p.run_id}

    async def _answer(self, p: M.RunAnswer) -> Any:
        await self.manager.resume(p.run_id, answer=p.answer)
        return {"run_id": p.run_id}

    async def _resume(self, p: M.RunResume) -> Any:
        await self.manager.resume(p.run_id, force=p.force)
        return {"run_id": p.run_id}

    async def _cancel(self, p: M.RunRef) -> Any:
        self.manager.cancel(p.run_id)
        return {"run_id": p.run_id}
