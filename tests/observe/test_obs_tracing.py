"""OpenTelemetry spans of real runs (``workflows/approval_flow.rag`` with a
scripted model, a SQLite journal), read back from the SDK's
``InMemorySpanExporter``: one span per run leg, activation, model call and
tool call, parented and attributed as ``docs/observability.md`` says."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from wfkit import WORKFLOWS, scripted_registry

import ragc
from ragc.observe import SpanRecorder, otlp_endpoint, tracer_provider

pytestmark = pytest.mark.anyio

DRAFT = [{"text": "Draft one", "usage": {"input_tokens": 11, "output_tokens": 2}}]


def _by_name(spans, name):
    return [s for s in spans if s.name == name]


async def test_spans_per_run_activation_model_and_tool_call(tmp_path):
    exporter = InMemorySpanExporter()
    provider = tracer_provider(exporter=exporter)
    ws = tmp_path / "ws"
    ws.mkdir()
    rag = WORKFLOWS / "approval_flow.rag"
    wf = ragc.load(rag, registry=scripted_registry(tmp_path / "scripts", default=DRAFT),
                   journal=tmp_path / "runs.sqlite", workspace=ws)
    recorder = SpanRecorder(provider, program=wf.program, source=str(rag))
    first = await wf.run({"topic": "spans"}, on_event=recorder)
    assert first.status == "interrupted"
    final = await wf.resume(first.run_id, answer="publish", on_event=recorder)
    assert final.status == "completed", final.error
    wf.close()
    provider.force_flush()
    spans = exporter.get_finished_spans()

    runs = _by_name(spans, "ragc.run")
    assert [s.attributes["ragc.resumed"] for s in runs] == [False, True]
    assert [s.attributes["ragc.status"] for s in runs] == ["interrupted", "completed"]
    assert all(s.attributes["ragc.file"] == str(rag) and s.attributes["ragc.run_id"] == first.run_id for s in runs)
    assert runs[0].attributes["gen_ai.usage.input_tokens"] == 11
    assert all(s.parent is None for s in runs)

    nodes = {s.attributes["ragc.node"]: s for s in _by_name(spans, "ragc.node")}
    assert {"draft", "gate", "publish"} <= set(nodes)
    draft = nodes["draft"]
    assert draft.parent.span_id == runs[0].context.span_id
    assert draft.attributes["ragc.kind"] == "model"
    line = next(i for i, text in enumerate(rag.read_text().splitlines(), 1) if "node draft" in text)
    assert draft.attributes["ragc.span"].startswith(f"{rag}:{line}:")
    assert draft.start_time <= draft.end_time

    (model,) = _by_name(spans, "ragc.model_call")
    assert model.parent.span_id == draft.context.span_id
    assert model.attributes["gen_ai.request.model"] == "default"
    assert (model.attributes["gen_ai.usage.input_tokens"], model.attributes["gen_ai.usage.output_tokens"]) == (11, 2)
    assert "ragc.cost_usd" in model.attributes

    (tool,) = _by_name(spans, "ragc.tool_call")
    assert tool.attributes["gen_ai.tool.name"] == "write_file"
    assert tool.parent.span_id == nodes["publish"].context.span_id
    assert tool.attributes["ragc.tool.is_error"] is False
    assert nodes["publish"].parent.span_id == runs[1].context.span_id, "resumed work belongs to the second leg"
    # the resumed leg replays `draft` from the journal: no second draft span, no second model call
    assert len([s for s in _by_name(spans, "ragc.node") if s.attributes["ragc.node"] == "draft"]) == 1


async def test_a_failed_run_marks_its_spans_as_errors(tmp_path):
    exporter = InMemorySpanExporter()
    provider = tracer_provider(exporter=exporter)
    ws = tmp_path / "ws"
    ws.mkdir()
    broken = [{"error": {"kind": "server", "status": 500, "message": "backend down"}}]
    wf = ragc.load(WORKFLOWS / "approval_flow.rag", registry=scripted_registry(tmp_path / "scripts", default=broken),
                   journal="memory", workspace=ws)
    result = await wf.run({"topic": "x"}, on_event=SpanRecorder(provider, program=wf.program))
    assert result.status == "failed"
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (run,) = _by_name(spans, "ragc.run")
    assert run.status.status_code is StatusCode.ERROR and "backend down" in run.status.description
    (draft,) = [s for s in _by_name(spans, "ragc.node") if s.attributes["ragc.node"] == "draft"]
    assert draft.status.status_code is StatusCode.ERROR
    assert draft.attributes["ragc.error_kind"] == "server"


def test_tracing_is_off_unless_an_endpoint_is_configured():
    assert otlp_endpoint(None, env={}) is None
    assert otlp_endpoint(None, env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == "http://127.0.0.1:4318"
    assert otlp_endpoint("http://127.0.0.1:9", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "x"}) == "http://127.0.0.1:9"
    provider = tracer_provider()  # no endpoint, no exporter: spans are made but go nowhere
    assert provider._active_span_processor._span_processors == ()
