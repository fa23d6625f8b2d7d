"""Traces exported over OTLP/HTTP to a real collector stand-in on 127.0.0.1:
the body is an ``ExportTraceServiceRequest`` (protobuf) holding the run's spans."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from wfkit import WORKFLOWS, scripted_registry

import ragc
from ragc.observe import SpanRecorder, tracer_provider

pytestmark = pytest.mark.anyio


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def test_spans_reach_an_otlp_http_collector(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider = tracer_provider(endpoint=f"http://127.0.0.1:{server.server_port}")
        ws = tmp_path / "ws"
        ws.mkdir()
        wf = ragc.load(WORKFLOWS / "approval_flow.rag",
                       registry=scripted_registry(tmp_path / "scripts", default=[{"text": "Draft"}]),
                       journal="memory", workspace=ws)
        result = await wf.run({"topic": "otlp"}, on_event=SpanRecorder(provider, program=wf.program))
        assert result.status == "interrupted"
        provider.shutdown()  # flushes the batch processor
    finally:
        server.shutdown()
    assert _Collector.received, "nothing was exported"
    names = set()
    for path, ctype, body in _Collector.received:
        assert path == "/v1/traces" and ctype == "application/x-protobuf"
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"]
            assert service == "ragc"
            for ss in rs.scope_spans:
                names |= {s.name for s in ss.spans}
    assert {"ragc.run", "ragc.node", "ragc.model_call"} <= names
