"""Run metrics from real runs, read back two ways: the Prometheus text parsed
by ``prometheus_client.parser``, and the OpenTelemetry instruments collected
by the SDK's ``InMemoryMetricReader``."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families
from wfkit import WORKFLOWS, scripted_registry

import ragc
from ragc.observe import RunMetrics

pytestmark = pytest.mark.anyio

RETRYING = """
graph flaky {
  input { q: string }
  start ask
  node ask {
    kind model
    prompt "{{ input.q }}"
    retry { max_attempts 3 initial 1ms max 1ms jitter false on [model] }
    next END
  }
}
"""


def samples(metrics: RunMetrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_prometheus_and_otel_counters_of_two_runs(tmp_path):
    reader = InMemoryMetricReader()
    metrics = RunMetrics(MeterProvider(metric_readers=[reader]))
    ws = tmp_path / "ws"
    ws.mkdir()
    draft = [{"text": "Draft one", "usage": {"input_tokens": 7, "output_tokens": 3}, "repeat": True}]
    wf = ragc.load(WORKFLOWS / "approval_flow.rag", registry=scripted_registry(tmp_path / "scripts", default=draft),
                   journal=tmp_path / "runs.sqlite", workspace=ws)
    a = await wf.run({"topic": "a"}, on_event=metrics)
    b = await wf.run({"topic": "b"}, on_event=metrics)
    done = await wf.resume(a.run_id, answer="publish", on_event=metrics)
    assert (a.status, b.status, done.status) == ("interrupted", "interrupted", "completed")
    wf.close()

    got = samples(metrics)
    g = (("graph", "approval_flow"),)
    assert got[("ragc_runs_started_total", g)] == 3
    assert got[("ragc_runs_finished_total", (("graph", "approval_flow"), ("status", "interrupted")))] == 2
    assert got[("ragc_runs_finished_total", (("graph", "approval_flow"), ("status", "completed")))] == 1
    assert got[("ragc_runs_active", g)] == 0
    # steps that ran: draft, gate (x2 runs) + approve and publish on resume; replays are not counted
    assert got[("ragc_steps_total", g)] == 6
    assert got[("ragc_model_calls_total", (("model", "default"),))] == 2, "the resume served the draft from the journal"
    assert got[("ragc_tokens_total", (("direction", "input"), ("model", "default")))] == 14
    assert got[("ragc_tokens_total", (("direction", "output"), ("model", "default")))] == 6
    assert got[("ragc_tool_calls_total", (("outcome", "ok"), ("tool", "write_file")))] == 1

    otel = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                otel[m.name] = sum(p.value for p in m.data.data_points)
    assert otel["ragc_runs_started"] == 3 and otel["ragc_model_calls"] == 2 and otel["ragc_steps"] == 6
    assert otel["ragc_tokens"] == 20 and otel["ragc_runs_active"] == 0


async def test_node_and_provider_retries_are_counted(tmp_path):
    rag = tmp_path / "flaky.rag"
    rag.write_text(RETRYING, encoding="utf-8")
    script = [{"error": {"kind": "rate_limit", "status": 429, "message": "slow down"}}, {"text": "fine"}]
    wf = ragc.load(rag, registry=scripted_registry(tmp_path / "scripts", default=script), journal="memory")
    metrics = RunMetrics()
    result = await wf.run({"q": "hi"}, on_event=metrics)
    assert result.status == "completed", result.error
    got = samples(metrics)
    assert got[("ragc_retries_total", (("scope", "node"),))] == 1
    assert got[("ragc_model_calls_total", (("model", "default"),))] == 1


async def test_calls_refused_by_an_open_circuit_breaker_are_counted(tmp_path):
    from ragc.observe.metrics import RunMetrics as M
    from ragc import events as E

    metrics = M()
    metrics(E.RunStarted("r1", 1.0, "g", "h"))
    metrics(E.NodeStarted("r1", 1.0, "ask", "ask#1", "model"))
    metrics(E.NodeFailed("r1", 2.0, "ask", "ask#1", "model `x`: circuit breaker is open", "circuit_open"))
    metrics(E.RunFinished("r1", 3.0, "failed", "boom"))
    got = samples(metrics)
    assert got[("ragc_circuit_open_total", (("node_kind", "model"),))] == 1
    assert got[("ragc_runs_finished_total", (("graph", "g"), ("status", "failed")))] == 1
