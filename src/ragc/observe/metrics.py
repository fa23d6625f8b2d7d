"""Run metrics from the event stream, as Prometheus text and OpenTelemetry instruments.

:class:`RunMetrics` is an event sink (``Callable[[Event], None]``). Every
counter is kept twice: in a private ``prometheus_client``
:class:`~prometheus_client.CollectorRegistry` (rendered by :meth:`RunMetrics.render`
in the Prometheus text exposition format,
https://prometheus.io/docs/instrumenting/exposition_formats/) and, when a
meter provider is given, as an OpenTelemetry counter of the same name
(without the ``_total`` suffix, which Prometheus adds).

================================  =========================  ==========================================
Prometheus name                   labels                     counted from
================================  =========================  ==========================================
``ragc_runs_started_total``       ``graph``                  ``RunStarted`` (each leg: start, resume)
``ragc_runs_finished_total``      ``graph``, ``status``      ``RunFinished``
``ragc_runs_active``              ``graph``                  started minus finished legs (a gauge)
``ragc_steps_total``              ``graph``                  ``NodeCompleted`` that ran (not replayed)
``ragc_model_calls_total``        ``model``                  ``ModelCallCompleted`` not served from the journal
``ragc_tool_calls_total``         ``tool``, ``outcome``      ``ToolCallCompleted`` (``ok``/``error``), not cached
``ragc_tokens_total``             ``model``, ``direction``   model call usage (``input``/``output``)
``ragc_cost_usd_total``           ``model``                  model call cost, USD
``ragc_retries_total``            ``scope``                  ``NodeRetried`` (``node``), ``ModelRetry`` (``provider``)
``ragc_circuit_open_total``       ``node_kind``              ``NodeFailed`` with ``error_kind`` ``circuit_open``
                                                             (a call refused by an open circuit breaker)
``ragc_breaker_opens_total``      ``scope``, ``target``      ``BreakerOpened``: a model's or tool's breaker
                                                             opened (``scope`` ``model``/``tool``)
``ragc_backpressure_waits_total`` ``scope``, ``target``      ``BackpressureWait``: a model call queued behind
                                                             ``max_in_flight`` (``model``) or a branch behind
                                                             ``max_concurrency`` (``fanout``)
``ragc_backpressure_wait_``       ``scope``, ``target``      the seconds those waits took
``seconds_total``
================================  =========================  ==========================================
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ragc import events as E

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of :meth:`RunMetrics.render` (text format 0.0.4)."""

_COUNTERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "runs_started": ("ragc_runs_started", ("graph",), "run legs started (a resume starts a new leg)"),
    "runs_finished": ("ragc_runs_finished", ("graph", "status"), "run legs finished, by final status"),
    "steps": ("ragc_steps", ("graph",), "node activations completed (not replayed from the journal)"),
    "model_calls": ("ragc_model_calls", ("model",), "model calls made (not served from the journal)"),
    "tool_calls": ("ragc_tool_calls", ("tool", "outcome"), "tool calls made, by outcome ok/error"),
    "tokens": ("ragc_tokens", ("model", "direction"), "model tokens, input and output"),
    "cost": ("ragc_cost_usd", ("model",), "model cost in US dollars"),
    "retries": ("ragc_retries", ("scope",), "retries: node attempts (node) and provider calls (provider)"),
    "circuit_open": ("ragc_circuit_open", ("node_kind",), "node attempts refused by an open circuit breaker"),
    "breaker_opens": ("ragc_breaker_opens", ("scope", "target"), "circuit breakers opened, per model or tool"),
    "backpressure_waits": ("ragc_backpressure_waits", ("scope", "target"),
                           "waits for a slot: model calls behind max_in_flight, branches behind max_concurrency"),
    "backpressure_seconds": ("ragc_backpressure_wait_seconds", ("scope", "target"),
                             "seconds spent in those waits"),
}


def otlp_meter_provider(endpoint: str, *, interval_s: float = 30.0) -> Any:
    """An SDK ``MeterProvider`` that pushes the instruments over OTLP/HTTP to
    ``endpoint`` (``/v1/metrics`` appended when it has no path) every
    ``interval_s`` seconds, and once more at ``shutdown()``.

    Raises:
        RuntimeError: the OTLP exporter package is not installed (``ragc[otlp]``).
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError:
        raise RuntimeError("exporting metrics over OTLP needs opentelemetry-exporter-otlp-proto-http; "
                           "install ragc[otlp]") from None
    url = endpoint.rstrip("/")
    if url.count("/") <= 2:  # scheme://host:port without a path
        url += "/v1/metrics"
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url),
                                           export_interval_millis=interval_s * 1000)
    return MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "ragc"}))


class RunMetrics:
    """Counters of runs (see the module table), fed as an event sink.

    Args:
        meter_provider: an OpenTelemetry ``MeterProvider``; ``None`` keeps the
            Prometheus side only.
        registry: the ``prometheus_client`` registry to register in (default:
            a fresh one, so two instances never collide).
    """

    def __init__(self, meter_provider: Any = None, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._prom = {key: Counter(name, doc, labels, registry=self.registry)
                      for key, (name, labels, doc) in _COUNTERS.items()}
        self._active = Gauge("ragc_runs_active", "run legs in progress", ("graph",), registry=self.registry)
        self._otel: dict[str, Any] = {}
        self._otel_active = None
        if meter_provider is not None:
            meter = meter_provider.get_meter("ragc")
            self._otel = {key: meter.create_counter(name, description=doc)
                          for key, (name, _labels, doc) in _COUNTERS.items()}
            self._otel_active = meter.create_up_down_counter("ragc_runs_active", description="run legs in progress")
        self._graphs: dict[str, str] = {}
        self._kinds: dict[tuple[str, str], str] = {}

    def _add(self, key: str, amount: float, **labels: str) -> None:
        if amount <= 0:
            return
        self._prom[key].labels(**labels).inc(amount)
        inst = self._otel.get(key)
        if inst is not None:
            inst.add(amount, labels)

    def _active_add(self, graph: str, delta: int) -> None:
        self._active.labels(graph=graph).inc(delta)
        if self._otel_active is not None:
            self._otel_active.add(delta, {"graph": graph})

    def __call__(self, ev: E.Event) -> None:
        t = type(ev)
        if t is E.RunStarted:
            self._graphs[ev.run_id] = ev.graph
            self._add("runs_started", 1, graph=ev.graph)
            self._active_add(ev.graph, 1)
        elif t is E.RunFinished:
            graph = self._graphs.pop(ev.run_id, "?")
            self._add("runs_finished", 1, graph=graph, status=ev.status)
            self._active_add(graph, -1)
            for key in [k for k in self._kinds if k[0] == ev.run_id]:
                del self._kinds[key]
        elif t is E.NodeStarted:
            self._kinds[(ev.run_id, ev.activation)] = ev.kind
        elif t is E.NodeCompleted:
            self._kinds.pop((ev.run_id, ev.activation), None)
            if not ev.replayed:
                self._add("steps", 1, graph=self._graphs.get(ev.run_id, "?"))
        elif t is E.ModelCallCompleted:
            if not ev.cached:
                self._add("model_calls", 1, model=ev.model)
                self._add("tokens", ev.input_tokens, model=ev.model, direction="input")
                self._add("tokens", ev.output_tokens, model=ev.model, direction="output")
                self._add("cost", ev.cost_usd, model=ev.model)
        elif t is E.ToolCallCompleted:
            if not ev.cached:
                self._add("tool_calls", 1, tool=ev.tool, outcome="error" if ev.is_error else "ok")
        elif t is E.NodeRetried:
            self._add("retries", 1, scope="node")
        elif t is E.ModelRetry:
            self._add("retries", 1, scope="provider")
        elif t is E.BreakerOpened:
            self._add("breaker_opens", 1, scope=ev.scope, target=ev.target)
        elif t is E.BackpressureWait:
            self._add("backpressure_waits", 1, scope=ev.scope, target=ev.target)
            self._add("backpressure_seconds", ev.waited_s, scope=ev.scope, target=ev.target)
        elif t is E.NodeFailed:
            if ev.error_kind == "circuit_open":
                self._add("circuit_open", 1, node_kind=self._kinds.get((ev.run_id, ev.activation), "?"))

    def render(self) -> bytes:
        """The Prometheus text exposition of every counter (``Content-Type``: :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
