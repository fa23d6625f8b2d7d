"""The OpenAPI 3.1 document of the HTTP part of the gateway (``GET /openapi.json``).

Written out here path by path (https://spec.openapis.org/oas/v3.1.0); the
schemas of request and response bodies come from the pydantic models of
:mod:`ragc.serve.messages`, so the document cannot drift from what the server
validates. A test checks that every route of the app is documented and
every documented path is routed.
"""

from __future__ import annotations

from typing import Any

from ragc import __version__
from ragc.serve import messages as M

_SCHEMAS = (M.StartRun, M.Answer, M.Resume, M.StartedRun, M.RunSummary, M.ErrorBody)


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"description": description or "OK", "content": {"application/json": {"schema": schema}}}


_ERR = {"$ref": "#/components/responses/Error"}
_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document() -> dict[str, Any]:
    """The document (a JSON-ready dict)."""
    schemas: dict[str, Any] = {}
    for model in _SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": _json({"type": "object"})}}},
        "/api/workflows": {"get": {"summary": "The .rag files under the server's root", "responses": {
            "200": _json({"type": "object",
                          "properties": {"workflows": {"type": "array", "items": {"type": "string"}}}}),
            "401": _ERR}}},
        "/api/workflows/graph": {"get": {
            "summary": "A workflow's entry graph, laid out (boxes with x/y, arrows)",
            "parameters": [{"name": "file", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object"}), "401": _ERR, "404": _ERR, "422": _ERR}}},
        "/api/diff": {"get": {
            "summary": "`ragc diff` of two workflow files, with their texts aligned side by side",
            "parameters": [{"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                           for n in ("old", "new")],
            "responses": {"200": _json({"type": "object", "properties": {
                "diff": {"type": "object", "description": "the `ragc diff --format json` document"},
                "text": {"type": "string"},
                "rows": {"type": "array", "items": {"type": "object", "properties": {
                    "tag": {"enum": ["equal", "replace", "delete", "insert"]},
                    "old": {"type": ["string", "null"]}, "new": {"type": ["string", "null"]}}}}}}),
                "401": _ERR, "404": _ERR, "422": _ERR}}},
        "/api/runs": {
            "get": {"summary": "Runs, most recently updated first",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50}}],
                    "responses": {"200": _json({"type": "object", "properties": {
                        "runs": {"type": "array", "items": _ref(M.RunSummary)}}}), "401": _ERR}},
            "post": {"summary": "Start a run (it goes on in the server; watch it with /stream)",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(M.StartRun)}}},
                     "responses": {"202": _json(_ref(M.StartedRun), "Started"), "400": _ERR, "401": _ERR,
                                   "404": _ERR, "409": _ERR, "422": _ERR}}},
        "/api/runs/{run_id}": {"get": {
            "summary": "One run: summary, input, output, state, model and tool calls (input and output), graph",
            "parameters": [_RUN_ID], "responses": {"200": _json({"type": "object"}), "401": _ERR, "404": _ERR}}},
        "/api/runs/{run_id}/events": {"get": {
            "summary": "The run's events so far (`ragc.events` JSON, `type` in snake case)",
            "parameters": [_RUN_ID], "responses": {"200": _json({"type": "object", "properties": {
                "events": {"type": "array", "items": {"type": "object"}}}}), "401": _ERR, "404": _ERR}}},
        "/api/runs/{run_id}/stream": {"get": {
            "summary": "Server-sent events: the history, then each new event as it happens",
            "description": "`id:` is the event's index (send `Last-Event-ID` to continue), `event:` its type, "
                           "`data:` its JSON. A comment line is sent every 15 s to keep proxies from closing it.",
            "parameters": [_RUN_ID], "responses": {"200": {"description": "an event stream",
                                                           "content": {"text/event-stream": {}}},
                                                   "401": _ERR, "404": _ERR}}},
        "/api/runs/{run_id}/answer": {"post": {
            "summary": "Answer the pending interrupt; the run continues",
            "parameters": [_RUN_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(M.Answer)}}},
            "responses": {"202": _json({"type": "object"}, "Resumed"), "400": _ERR, "401": _ERR, "404": _ERR,
                          "409": _ERR, "422": _ERR}}},
        "/api/runs/{run_id}/resume": {"post": {
            "summary": "Continue a stopped run (after a crash, a failure or a cancel)",
            "parameters": [_RUN_ID],
            "requestBody": {"content": {"application/json": {"schema": _ref(M.Resume)}}},
            "responses": {"202": _json({"type": "object"}, "Resumed"), "401": _ERR, "404": _ERR, "409": _ERR}}},
        "/api/runs/{run_id}/cancel": {"post": {
            "summary": "Cancel the run's leg in this server (status `cancelled`; it stays resumable)",
            "parameters": [_RUN_ID], "responses": {"202": _json({"type": "object"}, "Cancelling"), "401": _ERR,
                                                   "404": _ERR, "409": _ERR}}},
        "/metrics": {"get": {"summary": "Prometheus text exposition of the run metrics",
                             "responses": {"200": {"description": "text format 0.0.4",
                                                   "content": {"text/plain": {}}}, "401": _ERR}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": _json({"type": "object"})}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ragc serve", "version": __version__,
                 "description": "The HTTP part of the ragc gateway. The WebSocket JSON-RPC 2.0 API at `/ws` "
                                "is described in docs/serve.md."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "required when the server has a token "
                                                          "(always when bound beyond 127.0.0.1); "
                                                          "`?token=` works too"}},
            "responses": {"Error": _json(_ref(M.ErrorBody), "Refused (the message says why, the hint what to do)")},
        },
    }
