"""Observability of runs: OpenTelemetry traces and metrics, Prometheus text.

Both halves are *event sinks* over the run's typed event stream
(:mod:`ragc.events`): they are passed as listeners to
:meth:`ragc.runtime.engine.Engine.start` / ``resume`` (or ``on_event`` of the
Python API) and never touch the scheduler. Nothing is collected unless a sink
is attached: telemetry is off by default.

* :class:`~ragc.observe.tracing.SpanRecorder` -- one span per run leg, node
  activation, model call and tool call (``docs/observability.md``).
* :class:`~ragc.observe.metrics.RunMetrics` -- counters of runs, steps, calls,
  tokens, cost, retries and circuit-breaker refusals, as Prometheus text and
  through an OpenTelemetry meter.
* :func:`~ragc.observe.tracing.tracer_provider` and
  :func:`~ragc.observe.metrics.otlp_meter_provider` -- SDK providers that
  export over OTLP/HTTP when an endpoint is configured.
"""

from ragc.observe.metrics import RunMetrics, otlp_meter_provider
from ragc.observe.tracing import SpanRecorder, otlp_endpoint, tracer_provider

__all__ = ["RunMetrics", "SpanRecorder", "otlp_endpoint", "otlp_meter_provider", "tracer_provider"]
