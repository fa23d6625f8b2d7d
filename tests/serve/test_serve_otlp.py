"""``ragc serve --otlp-endpoint``: a served run's spans and metrics reach an
OTLP/HTTP collector stand-in on 127.0.0.1 (protobuf bodies decoded with
``opentelemetry-proto``); they are flushed when the server stops."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.received.append((self.path, self.rfile.read(int(self.headers.get("Content-Length", "0")))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_served_runs_are_exported_over_otlp(make_server):
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        server = make_server(extra=("--otlp-endpoint", f"http://127.0.0.1:{collector.server_port}"))
        with server.client() as c:
            rid = c.post("/api/runs", json={"file": "workflows/approval_flow.rag", "input": {"topic": "o"}}).json()
            server.wait_status(rid["run_id"], "interrupted")
        server.stop()  # SIGINT: the providers flush on shutdown
        assert server.proc.returncode == 0, (server.root / "serve.log").read_text()
    finally:
        collector.shutdown()
    spans, metrics = set(), set()
    for path, body in _Collector.received:
        if path == "/v1/traces":
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                spans |= {s.name for ss in rs.scope_spans for s in ss.spans}
        elif path == "/v1/metrics":
            for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                metrics |= {m.name for sm in rm.scope_metrics for m in sm.metrics}
    assert {"ragc.run", "ragc.node", "ragc.model_call"} <= spans
    assert {"ragc_runs_started", "ragc_model_calls", "ragc_tokens"} <= metrics
