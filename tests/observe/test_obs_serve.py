"""Telemetry through ``ragc serve``: the app created with an SDK tracer
provider (``InMemorySpanExporter``) and served by uvicorn on 127.0.0.1 in
this process; a run started over real HTTP produces its spans, and
``/metrics`` counts it."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import httpx
import uvicorn
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from wfkit import WORKFLOWS, scripted_registry

from ragc.observe import tracer_provider
from ragc.runtime.journal import SqliteStore
from ragc.serve.app import ServeSettings, create_app


def test_a_served_run_is_traced_and_counted(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(WORKFLOWS, root)
    (tmp_path / "ws").mkdir()
    exporter = InMemorySpanExporter()
    provider = tracer_provider(exporter=exporter)
    store = SqliteStore(tmp_path / "runs.sqlite")
    app = create_app(ServeSettings(store=store, registry=scripted_registry(tmp_path / "s", default=[{"text": "D"}]),
                                   registry_path=None, root=root, workspace=str(tmp_path / "ws"),
                                   tracer_provider=provider))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 20
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            rid = c.post("/api/runs", json={"file": "approval_flow.rag", "input": {"topic": "t"}}).json()["run_id"]
            while c.get(f"/api/runs/{rid}").json()["status"] != "interrupted" and time.monotonic() < deadline:
                time.sleep(0.05)
            c.post(f"/api/runs/{rid}/answer", json={"answer": "publish"})
            while c.get(f"/api/runs/{rid}").json()["status"] != "completed" and time.monotonic() < deadline:
                time.sleep(0.05)
            text = c.get("/metrics").text
    finally:
        server.should_exit = True
        thread.join(20)
        store.close()
    provider.force_flush()
    spans = exporter.get_finished_spans()
    runs = [s for s in spans if s.name == "ragc.run"]
    assert [s.attributes["ragc.status"] for s in runs] == ["interrupted", "completed"]
    assert all(s.attributes["ragc.file"] == str(root / "approval_flow.rag") for s in runs)
    assert {s.attributes["ragc.node"] for s in spans if s.name == "ragc.node"} >= {"draft", "approve", "publish"}
    assert [s.attributes["gen_ai.tool.name"] for s in spans if s.name == "ragc.tool_call"] == ["write_file"]
    steps = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "ragc_runs_finished_total" and s.labels.get("status") == "completed"}
    assert steps == {"ragc_runs_finished_total": 1.0}
