"""docs/serve.md and docs/observability.md name every JSON-RPC method, HTTP
path and metric the code has (so the docs cannot fall behind)."""

from __future__ import annotations

from pathlib import Path

from ragc.observe.metrics import _COUNTERS
from ragc.serve.openapi import openapi_document
from ragc.serve.rpc import RpcSession

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_serve_docs_name_every_method_and_path():
    text = (DOCS / "serve.md").read_text(encoding="utf-8")
    session = RpcSession(manager=None, views=None, subscribe=None, unsubscribe=None)  # type: ignore[arg-type]
    for method in session.methods:
        assert f"`{method}`" in text, method
    for path in openapi_document()["paths"]:
        assert path.replace("{run_id}", "{id}") in text, path
    assert "(serve-inspector.png)" in text and (DOCS / "serve-inspector.png").stat().st_size > 10_000


def test_observability_docs_name_every_metric_and_span():
    text = (DOCS / "observability.md").read_text(encoding="utf-8")
    for name, _labels, _doc in _COUNTERS.values():
        assert f"`{name}_total`" in text, name
    assert "`ragc_runs_active`" in text
    for span in ("ragc.run", "ragc.node", "ragc.model_call", "ragc.tool_call"):
        assert f"`{span}`" in text
