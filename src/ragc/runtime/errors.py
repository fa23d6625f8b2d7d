"""Run-time errors: one exception type with a stable ``E09xx`` code.

Every expected failure of a run (a limit, a budget, a failed node, a bad
route label, an invalid answer...) is a :class:`RunError` that names the node
and activation and carries the node's ``.rag`` span, so the CLI can render it
as a diagnostic with the source snippet instead of a traceback.

Codes (see ``docs/runtime.md``; the catalogue in ``ragc.diagnostics.codes``
mirrors them):

====== ===================================================================
E0901  ``max_steps`` exceeded (node activations per run)
E0902  ``max_visits`` of a node exceeded
E0903  a route label that the node does not declare
E0904  a node attempt exceeded its ``timeout``
E0905  a budget limit was hit (``max_model_calls``, ``max_tokens``...)
E0906  the run ``deadline`` passed
E0907  ``max_subgraph_depth`` exceeded
E0908  an expression or template could not be evaluated
E0909  a node failed (model, tool, agent or function error)
E0910  a join failed (its policy could not be met)
E0911  an interrupt answer that is not one of the options
E0912  the run input does not match the graph's input schema
E0913  the graph changed since the run started (resume refused)
E0914  a registry function or reducer could not be loaded
E0915  the run cannot be resumed (unknown id, finished, store problem)
E0916  the run's output does not match the types of the graph's ``output`` block
E0960  another live process owns the run (its lease in the journal)
E0961  the run was cancelled (Ctrl-C or SIGTERM); it stays resumable
====== ===================================================================
"""

from __future__ import annotations

from typing import Any

from ragc.ir.model import SpanIR
from ragc.kinds import ErrorKind, as_kind

RUNTIME_CODES: dict[str, str] = {
    "E0901": "max_steps exceeded",
    "E0902": "max_visits exceeded",
    "E0903": "unknown route label",
    "E0904": "node timeout",
    "E0905": "budget exceeded",
    "E0906": "run deadline passed",
    "E0907": "subgraph depth exceeded",
    "E0908": "expression evaluation failed",
    "E0909": "node failed",
    "E0910": "join failed",
    "E0911": "invalid interrupt answer",
    "E0912": "invalid run input",
    "E0913": "graph changed since the run started",
    "E0914": "function or reducer cannot be loaded",
    "E0915": "run cannot be resumed",
    "E0916": "run output does not match the graph's output block",
    "E0930": "Temporal server unreachable",
    "E0931": "no Temporal worker on the task queue",
    "E0932": "Temporal support not installed",
    "E0933": "run not found on the Temporal server",
    "E0934": "payload too large for Temporal history",
    "E0960": "run owned by another process",
    "E0961": "run cancelled",
}
"""Code -> short title of every runtime error."""


class RunError(Exception):
    """An expected run failure.

    Args:
        code: ``E09xx`` (see the module table).
        message: one lowercase line without final period.
        node: the node's name (``None`` for run-level errors).
        activation: the activation id (see ``docs/runtime.md``).
        span: the node's (or route's) source span.
        kind: an :class:`~ragc.kinds.ErrorKind` (a plain string is converted),
            usable in ``retry { on [...] }`` and in the
            ``errors`` channel (``timeout``, ``budget``, ``tool``, ``model``,
            ``rate_limit``...).
        hint: one line of advice.
        retryable: whether a node ``retry`` may try again.
    """

    def __init__(self, code: str, message: str, *, node: str | None = None, activation: str | None = None,
                 span: SpanIR | None = None, kind: ErrorKind | str = ErrorKind.ERROR, hint: str | None = None,
                 retryable: bool = False):
        from ragc.registry.secrets import redact

        message, hint = redact(message), redact(hint) if hint else hint
        super().__init__(message)
        self.code = code
        self.message = message
        self.node = node
        self.activation = activation
        self.span = span
        self.kind = as_kind(kind)
        self.hint = hint
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form stored in the journal and printed by ``--json``."""
        out: dict[str, Any] = {"code": self.code, "message": self.message, "kind": str(self.kind)}  # plain str in JSON and state
        if self.node is not None:
            out["node"] = self.node
        if self.activation is not None:
            out["activation"] = self.activation
        if self.span is not None:
            out["span"] = self.span.model_dump()
        if self.hint:
            out["hint"] = self.hint
        return out

    def error_entry(self) -> dict[str, Any]:
        """The entry appended to the built-in ``errors`` channel."""
        return {"node": self.node, "activation": self.activation, "error_kind": str(self.kind), "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunError":
        """The inverse of :meth:`to_dict` (a journaled ``error_json``)."""
        span = data.get("span")
        return cls(data.get("code", "E0909"), data.get("message", ""), node=data.get("node"),
                   activation=data.get("activation"), span=SpanIR(**span) if span else None,
                   kind=data.get("kind", "error"), hint=data.get("hint"))


class RunStop(Exception):
    """Base of the signals that stop a whole run without failing it. They
    pass through retries and error routes untouched."""


class InterruptStop(RunStop):
    """Raised inside the scheduler when an interrupt node needs an answer; the
    run stops with status ``interrupted``. ``pending`` is the stored
    question (see :mod:`ragc.runtime.nodes.interrupt`)."""

    def __init__(self, pending: dict[str, Any]):
        super().__init__(pending.get("question", "interrupted"))
        self.pending = pending


class RunFatal(RunStop):
    """A failure that must end the whole run even inside a branch (the
    journal cannot be written). ``error`` is the :class:`RunError`."""

    def __init__(self, error: RunError):
        super().__init__(str(error))
        self.error = error


class InspectStop(RunStop):
    """Raised in inspect mode at the first activation that is not recorded
    (``ragc runs show`` rebuilds a run's state by replaying its journal)."""
