"""The typed event stream of a run.

One stream drives the rich live view of ``ragc run``, the ``--json`` JSONL
output, and the journal's event table. Events are small frozen dataclasses;
:func:`to_json` turns one into a JSON-ready dict with a ``"type"`` field (the
names below in snake case, e.g. ``node_completed``).

``activation`` identifies one execution of a node: the path of branch
indexes and node visits from the root, e.g. ``"supervisor#1/2:research_agent#1"``
(see ``docs/runtime.md``). ``ts`` is ``time.time()`` (seconds since the epoch).
Emitters must never block: sinks queue or drop.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Event:
    run_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    graph: str
    graph_hash: str
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    status: str  # completed | failed | interrupted | cancelled
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeStarted(Event):
    node: str
    activation: str
    kind: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class NodeCompleted(Event):
    node: str
    activation: str
    duration_s: float
    writes: tuple[str, ...] = ()
    route: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class NodeFailed(Event):
    node: str
    activation: str
    error: str
    error_kind: str
    will_retry: bool = False


@dataclass(frozen=True, slots=True)
class NodeRetried(Event):
    node: str
    activation: str
    attempt: int
    delay_s: float
    error: str


@dataclass(frozen=True, slots=True)
class NodeCancelled(Event):
    node: str
    activation: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelCallStarted(Event):
    node: str | None
    activation: str | None
    model: str
    call: str


@dataclass(frozen=True, slots=True)
class ModelCallCompleted(Event):
    node: str | None
    activation: str | None
    model: str
    call: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    duration_s: float
    cached: bool = False


@dataclass(frozen=True, slots=True)
class ModelDelta(Event):
    node: str | None
    activation: str | None
    text: str


@dataclass(frozen=True, slots=True)
class ModelRetry(Event):
    model: str
    attempt: int
    delay_s: float
    error: str
    error_kind: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted(Event):
    node: str | None
    activation: str | None
    tool: str
    call: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCallCompleted(Event):
    node: str | None
    activation: str | None
    tool: str
    call: str
    is_error: bool
    duration_s: float
    summary: str = ""
    cached: bool = False


@dataclass(frozen=True, slots=True)
class RouteChosen(Event):
    node: str
    activation: str
    label: str
    target: str


@dataclass(frozen=True, slots=True)
class FanOutStarted(Event):
    node: str
    activation: str
    branches: int
    join: str | None


@dataclass(frozen=True, slots=True)
class BranchFinished(Event):
    node: str
    activation: str
    branch: int
    status: str  # ok | failed | cancelled | skipped


@dataclass(frozen=True, slots=True)
class JoinFired(Event):
    join: str
    activation: str
    policy: str
    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    outcome: str  # ok | error


@dataclass(frozen=True, slots=True)
class Checkpoint(Event):
    seq: int
    activation: str


@dataclass(frozen=True, slots=True)
class InterruptRaised(Event):
    node: str
    activation: str
    question: str
    options: tuple[str, ...] = ()
    default: Any = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Warning(Event):
    message: str
    node: str | None = None


def event_type(ev: Event) -> str:
    """``NodeCompleted`` -> ``"node_completed"``."""
    return _SNAKE.sub("_", type(ev).__name__).lower()


def to_json(ev: Event) -> dict[str, Any]:
    """A JSON-ready dict: ``{"type": ..., **fields}``."""
    out: dict[str, Any] = {"type": event_type(ev)}
    for f in dataclasses.fields(ev):
        v = getattr(ev, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


EVENT_TYPES: dict[str, type[Event]] = {
    _SNAKE.sub("_", cls.__name__).lower(): cls
    for cls in (RunStarted, RunFinished, NodeStarted, NodeCompleted, NodeFailed, NodeRetried, NodeCancelled,
                ModelCallStarted, ModelCallCompleted, ModelDelta, ModelRetry, ToolCallStarted, ToolCallCompleted,
                RouteChosen, FanOutStarted, BranchFinished, JoinFired, Checkpoint, InterruptRaised, Warning)
}
"""Event classes by their ``type`` string (for reading JSONL back)."""
