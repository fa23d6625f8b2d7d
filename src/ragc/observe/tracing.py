"""OpenTelemetry spans built from a run's event stream.

:class:`SpanRecorder` is an event sink (``Callable[[Event], None]``). It opens
and closes spans as events arrive, with the events' own timestamps, so a span
lasts exactly as long as the thing it stands for:

==================  ==================================  ==========================================
span name           opened by / closed by               parent
==================  ==================================  ==========================================
``ragc.run``        ``RunStarted`` / ``RunFinished``    none (one trace per run leg)
``ragc.node``       ``NodeStarted`` / ``NodeCompleted``  the run span
                    (or a final ``NodeFailed``,
                    ``NodeCancelled``)
``ragc.model_call`` ``ModelCallStarted`` /              the activation's span (else the run's)
                    ``ModelCallCompleted``
``ragc.tool_call``  ``ToolCallStarted`` /               the activation's span (else the run's)
                    ``ToolCallCompleted``
==================  ==================================  ==========================================

Attributes carry the ``.rag`` file (``ragc.file``) and the node's source span
(``ragc.span``, ``FILE:LINE:COL-END_LINE:END_COL``), tokens and cost. Model
call attributes follow the OpenTelemetry GenAI semantic conventions where one
exists (``gen_ai.request.model``, ``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``; https://opentelemetry.io/docs/specs/semconv/gen-ai/).

Replayed work (a resume serving completions and calls from the journal) opens
no spans: only what ran in this leg is traced. A run leg that ends without a
``RunFinished`` (the process was killed) leaves its spans unexported.

:func:`tracer_provider` builds an SDK provider; with an OTLP endpoint
(``--otlp-endpoint`` or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
variable) it exports over OTLP/HTTP in batches, which needs the
``opentelemetry-exporter-otlp-proto-http`` package (extra ``ragc[otlp]``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode

from ragc import events as E

TRACER_NAME = "ragc"


def otlp_endpoint(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The OTLP/HTTP endpoint to export to: ``explicit``, else
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
    from ``env`` (default ``os.environ``), else ``None`` (tracing off)."""
    if explicit:
        return explicit
    env = os.environ if env is None else env
    return env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def tracer_provider(*, endpoint: str | None = None, exporter: SpanExporter | None = None,
                    service_name: str = "ragc") -> TracerProvider:
    """An SDK :class:`TracerProvider` exporting through ``exporter`` (tests pass an
    ``InMemorySpanExporter``) or, given ``endpoint``, over OTLP/HTTP to it
    (e.g. ``http://127.0.0.1:4318``; ``/v1/traces`` is appended when the
    path is empty). Call ``shutdown()`` on it to flush.

    Raises:
        RuntimeError: an endpoint is given but the OTLP exporter package is
            not installed (install ``ragc[otlp]``).
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None and endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise RuntimeError("exporting traces over OTLP needs opentelemetry-exporter-otlp-proto-http; "
                               "install ragc[otlp]") from None
        url = endpoint.rstrip("/")
        if url.count("/") <= 2:  # scheme://host:port without a path
            url += "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=url)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _ns(ts: float) -> int:
    return int(ts * 1_000_000_000)


def span_text(span: Any) -> str | None:
    """``FILE:LINE:COL-END_LINE:END_COL`` of an IR :class:`~ragc.ir.model.SpanIR` (``None`` passes through)."""
    if span is None:
        return None
    return f"{span.file}:{span.line}:{span.column}-{span.end_line}:{span.end_column}"


class SpanRecorder:
    """Event sink that turns one or many runs' events into spans (see module docs).

    Args:
        tracer_provider: where spans go (default: the global provider, which
            is a no-op until the application installs one).
        program: the :class:`~ragc.ir.model.ProgramIR` of runs not bound with
            :meth:`bind` (for node spans); a recorder shared by many runs
            (``ragc serve``) binds each run's program when it starts.
        source: the ``.rag`` file of runs not bound with :meth:`bind`.

    The recorder is not thread-safe; the runtime emits events from its event
    loop thread only.
    """

    def __init__(self, tracer_provider: Any = None, *, program: Any = None, source: str | None = None):
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer(TRACER_NAME)
        self._default = (program, source)
        self._programs: dict[str, tuple[Any, str | None]] = {}
        self._runs: dict[str, Span] = {}
        self._nodes: dict[tuple[str, str], Span] = {}
        self._calls: dict[tuple[str, str | None, str], Span] = {}

    def bind(self, run_id: str, program: Any, source: str | None) -> None:
        """Use ``program`` (a ProgramIR, for node spans) and ``source`` (the ``.rag`` path) for ``run_id``."""
        self._programs[run_id] = (program, source)

    # ----------------------------------------------------------------- helpers

    def _program(self, run_id: str) -> tuple[Any, str | None]:
        return self._programs.get(run_id, self._default)

    def _node_span(self, run_id: str, node: str) -> str | None:
        program, _ = self._program(run_id)
        if program is None:
            return None
        graph = program.graphs.get(program.entry)
        found = graph.nodes.get(node) if graph is not None else None
        if found is None:
            for g in program.graphs.values():
                if node in g.nodes:
                    found = g.nodes[node]
                    break
        return span_text(getattr(found, "span", None))

    def _start(self, name: str, ts: float, parent: Span | None, attrs: dict[str, Any]) -> Span:
        ctx = trace.set_span_in_context(parent) if parent is not None else None
        clean = {k: v for k, v in attrs.items() if v is not None}
        return self._tracer.start_span(name, context=ctx, start_time=_ns(ts), attributes=clean)

    @staticmethod
    def _end(span: Span, ts: float, error: str | None = None, **attrs: Any) -> None:
        for k, v in attrs.items():
            if v is not None:
                span.set_attribute(k, v)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_ns(ts))

    def _parent(self, run_id: str, activation: str | None) -> Span | None:
        if activation is not None and (run_id, activation) in self._nodes:
            return self._nodes[(run_id, activation)]
        return self._runs.get(run_id)

    # ----------------------------------------------------------------- the sink

    def __call__(self, ev: E.Event) -> None:
        t = type(ev)
        rid = ev.run_id
        if t is E.RunStarted:
            _, source = self._program(rid)
            self._runs[rid] = self._start("ragc.run", ev.ts, None, {
                "ragc.run_id": rid, "ragc.graph": ev.graph, "ragc.graph_hash": ev.graph_hash,
                "ragc.resumed": ev.resumed, "ragc.file": source})
        elif t is E.RunFinished:
            span = self._runs.pop(rid, None)
            for key in [k for k in self._calls if k[0] == rid]:
                self._end(self._calls.pop(key), ev.ts, "the run ended first")
            for key in [k for k in self._nodes if k[0] == rid]:
                self._end(self._nodes.pop(key), ev.ts, "the run ended first")
            if span is not None:
                u = ev.usage or {}
                self._end(span, ev.ts, ev.error if ev.status == "failed" else None,
                          **{"ragc.status": ev.status, "ragc.steps": u.get("steps"),
                             "ragc.model_calls": u.get("model_calls"), "ragc.tool_calls": u.get("tool_calls"),
                             "gen_ai.usage.input_tokens": u.get("input_tokens"),
                             "gen_ai.usage.output_tokens": u.get("output_tokens"),
                             "ragc.cost_usd": u.get("cost_usd")})
            self._programs.pop(rid, None)
        elif t is E.NodeStarted:
            _, source = self._program(rid)
            self._nodes[(rid, ev.activation)] = self._start("ragc.node", ev.ts, self._runs.get(rid), {
                "ragc.run_id": rid, "ragc.node": ev.node, "ragc.kind": ev.kind, "ragc.activation": ev.activation,
                "ragc.file": source, "ragc.span": self._node_span(rid, ev.node)})
        elif t is E.NodeCompleted:
            span = self._nodes.pop((rid, ev.activation), None)
            if span is not None:
                self._end(span, ev.ts, **{"ragc.route": ev.route, "ragc.writes": list(ev.writes)})
        elif t is E.NodeFailed:
            if not ev.will_retry:
                span = self._nodes.pop((rid, ev.activation), None)
                if span is not None:
                    self._end(span, ev.ts, ev.error, **{"ragc.error_kind": ev.error_kind})
            else:
                span = self._nodes.get((rid, ev.activation))
                if span is not None:
                    span.add_event("retry", {"ragc.error": ev.error, "ragc.error_kind": ev.error_kind},
                                   timestamp=_ns(ev.ts))
        elif t is E.NodeCancelled:
            span = self._nodes.pop((rid, ev.activation), None)
            if span is not None:
                self._end(span, ev.ts, f"cancelled: {ev.reason}", **{"ragc.cancelled": ev.reason})
        elif t is E.ModelCallStarted:
            self._calls[(rid, ev.activation, ev.call)] = self._start(
                "ragc.model_call", ev.ts, self._parent(rid, ev.activation),
                {"ragc.run_id": rid, "ragc.node": ev.node, "ragc.activation": ev.activation, "ragc.call": ev.call,
                 "gen_ai.request.model": ev.model})
        elif t is E.ModelCallCompleted:
            span = self._calls.pop((rid, ev.activation, ev.call), None)
            if span is not None:
                self._end(span, ev.ts, **{"gen_ai.response.model": ev.model,
                                          "gen_ai.usage.input_tokens": ev.input_tokens,
                                          "gen_ai.usage.output_tokens": ev.output_tokens,
                                          "ragc.cost_usd": ev.cost_usd})
        elif t is E.ModelRetry:
            for (r, _act, _call), span in self._calls.items():
                if r == rid:
                    span.add_event("provider_retry", {"ragc.error": ev.error, "ragc.error_kind": ev.error_kind,
                                                      "ragc.attempt": ev.attempt}, timestamp=_ns(ev.ts))
        elif t is E.ToolCallStarted:
            self._calls[(rid, ev.activation, ev.call)] = self._start(
                "ragc.tool_call", ev.ts, self._parent(rid, ev.activation),
                {"ragc.run_id": rid, "ragc.node": ev.node, "ragc.activation": ev.activation, "ragc.call": ev.call,
                 "gen_ai.tool.name": ev.tool})
        elif t is E.ToolCallCompleted:
            span = self._calls.pop((rid, ev.activation, ev.call), None)
            if span is not None:
                self._end(span, ev.ts, (ev.summary or "the tool reported an error") if ev.is_error else None,
                          **{"ragc.tool.is_error": ev.is_error})
