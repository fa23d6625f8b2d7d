"""Breaker opens and backpressure waits, from real harness calls and a real
fan-out run: the ``BreakerOpened`` / ``BackpressureWait`` events, and the
``ragc_breaker_opens_total``, ``ragc_backpressure_waits_total`` and
``ragc_backpressure_wait_seconds_total`` counters read back with
``prometheus_client``'s parser and the OpenTelemetry SDK's in-memory reader."""

from __future__ import annotations

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families
from wfkit import scripted_registry

import ragc
from ragc import events as E
from ragc.harness.errors import ProviderError
from ragc.harness.facade import Harness
from ragc.harness.resilience import ResilienceSettings
from ragc.harness.types import Message, ModelRequest, NoBudget, NullEffectLog
from ragc.observe import RunMetrics

pytestmark = pytest.mark.anyio


def samples(metrics: RunMetrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def otel(reader: InMemoryMetricReader) -> dict[str, float]:
    out: dict[str, float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out[m.name] = sum(p.value for p in m.data.data_points)
    return out


def request(text: str) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)])


async def test_a_breaker_that_opens_is_one_event_and_one_count(tmp_path):
    failing = [{"error": {"kind": "server", "status": 500, "message": "down"}, "repeat": True}]
    registry = scripted_registry(tmp_path / "scripts", default=failing)
    events: list[E.Event] = []
    reader = InMemoryMetricReader()
    metrics = RunMetrics(MeterProvider(metric_readers=[reader]))

    def sink(ev: E.Event) -> None:
        events.append(ev)
        metrics(ev)

    h = Harness(registry, settings=ResilienceSettings(breaker_threshold=2, breaker_recovery_s=60))
    kinds = []
    try:
        for i in range(4):
            try:
                await h.complete("default", request(f"q{i}"), effects=NullEffectLog(), key=f"m{i}",
                                 budget=NoBudget(), emit=sink, run_id="r1", node="ask", activation="ask#1")
            except ProviderError as e:
                kinds.append(e.kind)
    finally:
        await h.aclose()
    assert kinds == ["server", "server", "circuit_open", "circuit_open"]
    opened = [e for e in events if isinstance(e, E.BreakerOpened)]
    assert len(opened) == 1, "the breaker opened once; refused calls do not open it again"
    assert (opened[0].scope, opened[0].target, opened[0].recovery_s, opened[0].activation) == \
        ("model", "default", 60, "ask#1")
    assert E.to_json(opened[0])["type"] == "breaker_opened"
    got = samples(metrics)
    assert got[("ragc_breaker_opens_total", (("scope", "model"), ("target", "default")))] == 1
    assert otel(reader)["ragc_breaker_opens"] == 1


async def test_a_call_queued_behind_max_in_flight_is_a_backpressure_wait(tmp_path):
    slow = [{"text": "done", "delay_ms": 300, "repeat": True}]
    registry = scripted_registry(tmp_path / "scripts", default=slow)
    metrics = RunMetrics()
    events: list[E.Event] = []

    def sink(ev: E.Event) -> None:
        events.append(ev)
        metrics(ev)

    h = Harness(registry, settings=ResilienceSettings(max_in_flight=1))
    try:
        async with anyio.create_task_group() as tg:
            for i in range(2):
                tg.start_soon(lambda i=i: h.complete("default", request(f"q{i}"), effects=NullEffectLog(),
                                                     key=f"m{i}", budget=NoBudget(), emit=sink, run_id="r1"))
    finally:
        await h.aclose()
    waits = [e for e in events if isinstance(e, E.BackpressureWait)]
    assert len(waits) == 1 and waits[0].scope == "model" and waits[0].target == "default"
    assert 0.2 < waits[0].waited_s < 2.0, waits[0].waited_s
    got = samples(metrics)
    labels = (("scope", "model"), ("target", "default"))
    assert got[("ragc_backpressure_waits_total", labels)] == 1
    assert got[("ragc_backpressure_wait_seconds_total", labels)] == pytest.approx(waits[0].waited_s)


FANOUT = """
graph fan {
  channel notes append
  start split
  node split {
    kind router
    send [ work { n: n } for n in [1, 2, 3, 4] ]
    max_concurrency 2
    join done
  }
  node work {
    kind model
    prompt "item {{ payload.n }}"
    output notes
  }
  node done {
    kind router
    next END
  }
}
"""


async def test_branches_queued_behind_max_concurrency_are_backpressure_waits(tmp_path):
    rag = tmp_path / "fan.rag"
    rag.write_text(FANOUT, encoding="utf-8")
    script = [{"text": "ok", "delay_ms": 100, "repeat": True}]
    wf = ragc.load(rag, registry=scripted_registry(tmp_path / "scripts", default=script), journal="memory")
    reader = InMemoryMetricReader()
    metrics = RunMetrics(MeterProvider(metric_readers=[reader]))
    events: list[E.Event] = []

    def sink(ev: E.Event) -> None:
        events.append(ev)
        metrics(ev)

    result = await wf.run({}, on_event=sink)
    assert result.status == "completed", result.error
    waits = [e for e in events if isinstance(e, E.BackpressureWait)]
    assert [(w.scope, w.target, w.activation) for w in waits] == [("fanout", "split", "split#1")] * 2
    assert all(w.waited_s >= 0.05 for w in waits), [w.waited_s for w in waits]
    got = samples(metrics)
    labels = (("scope", "fanout"), ("target", "split"))
    assert got[("ragc_backpressure_waits_total", labels)] == 2
    assert got[("ragc_backpressure_wait_seconds_total", labels)] == pytest.approx(sum(w.waited_s for w in waits))
    assert otel(reader)["ragc_backpressure_waits"] == 2
