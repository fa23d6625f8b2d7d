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
import reprlib
from dataclasses import dataclass, field
from typing import Any

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: ``run_id`` and ``ts`` (``time.time()``, seconds since the epoch)."""

    run_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    """A leg of a run started (``resumed``: a resume or a fork continuing it); ``graph_hash`` is the IR hash."""

    graph: str
    graph_hash: str
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    """A leg ended with ``status`` ``completed``, ``failed`` or ``interrupted``; ``error`` is the
    failure's message; ``usage`` as in :attr:`ragc.runtime.engine.RunResult.usage`."""

    status: str  # completed | failed | interrupted
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeStarted(Event):
    """An activation started running (replayed activations only report :class:`NodeCompleted`).
    ``attempt`` is currently always 1: retries are reported by :class:`NodeRetried`."""

    node: str
    activation: str
    kind: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class NodeCompleted(Event):
    """An activation completed (``replayed``: applied from the journal); ``writes`` are the
    channels it wrote, ``route`` its routing label, ``duration_s`` in seconds."""

    node: str
    activation: str
    duration_s: float
    writes: tuple[str, ...] = ()
    route: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class NodeFailed(Event):
    """An attempt failed (``will_retry``: a :class:`NodeRetried` follows); ``error_kind`` as in
    ``retry { on [...] }``."""

    node: str
    activation: str
    error: str
    error_kind: str
    will_retry: bool = False


@dataclass(frozen=True, slots=True)
class NodeRetried(Event):
    """Attempt ``attempt`` (2 for the first retry) starts after ``delay_s`` seconds."""

    node: str
    activation: str
    attempt: int
    delay_s: float
    error: str


@dataclass(frozen=True, slots=True)
class NodeCancelled(Event):
    """An activation was cancelled (``reason``: ``join fired``, ``join timeout``, ``run interrupted``...)."""

    node: str
    activation: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelCallStarted(Event):
    """A model call ``call`` (effect key, e.g. ``m1``) of an activation started."""

    node: str | None
    activation: str | None
    model: str
    call: str


@dataclass(frozen=True, slots=True)
class ModelCallCompleted(Event):
    """A model call returned (``cached``: served from the journal on resume); cost in USD,
    duration in seconds."""

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
    """Streamed text of a model call in progress (never journaled)."""

    node: str | None
    activation: str | None
    text: str


@dataclass(frozen=True, slots=True)
class ModelRetry(Event):
    """The harness retries a transient provider error after ``delay_s`` seconds."""

    model: str
    attempt: int
    delay_s: float
    error: str
    error_kind: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted(Event):
    """A tool call ``call`` (effect key, e.g. ``t1``) started with ``arguments``."""

    node: str | None
    activation: str | None
    tool: str
    call: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCallCompleted(Event):
    """A tool call returned (``is_error``: the tool reported a failure; ``cached``: served from
    the journal); ``summary`` is a short rendering of the result."""

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
    """A routed node chose ``label``, which leads to node ``target`` (``END`` for the end)."""

    node: str
    activation: str
    label: str
    target: str


@dataclass(frozen=True, slots=True)
class FanOutStarted(Event):
    """Activation ``activation`` of ``node`` started ``branches`` branches (``join``: the join id, or
    ``None`` for a fork without one). ``labels`` (one per branch, may be empty) tell the branches
    apart: the first node and what differs in their payloads (:func:`branch_labels`)."""

    node: str
    activation: str
    branches: int
    join: str | None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BranchFinished(Event):
    """Branch ``branch`` (from 0) of the fork started by ``activation`` ended; ``node`` is the branch's
    first node; ``status`` ``ok``, ``failed``, ``cancelled`` or ``skipped``."""

    node: str
    activation: str
    branch: int
    status: str  # ok | failed | cancelled | skipped


@dataclass(frozen=True, slots=True)
class JoinFired(Event):
    """A join fired with ``outcome`` ``ok`` or ``error`` and the branch counts."""

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
    """Journal record ``seq`` (the completion of ``activation``, or a join outcome) is durable."""

    seq: int
    activation: str


@dataclass(frozen=True, slots=True)
class InterruptRaised(Event):
    """An interrupt asks ``question``; ``deadline`` (epoch seconds) is when ``default`` applies."""

    node: str
    activation: str
    question: str
    options: tuple[str, ...] = ()
    default: Any = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Warning(Event):
    """Something the user should know that does not fail the run (a failed detached node...)."""

    message: str
    node: str | None = None


@dataclass(frozen=True, slots=True)
class BreakerOpened(Event):
    """A circuit breaker opened: ``scope`` ``model`` or ``tool``, ``target`` its registry name;
    calls are refused for ``recovery_s`` seconds (then one probe call goes through)."""

    scope: str
    target: str
    recovery_s: float
    node: str | None = None
    activation: str | None = None


@dataclass(frozen=True, slots=True)
class BackpressureWait(Event):
    """Work waited ``waited_s`` seconds for a slot: ``scope`` ``model`` (a call queued behind
    the model's ``max_in_flight``; ``target`` the model) or ``fanout`` (a branch queued behind
    the fan-out's ``max_concurrency``; ``target`` the forking node)."""

    scope: str
    target: str
    waited_s: float
    node: str | None = None
    activation: str | None = None


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 3
_SHORT.maxlevel = 2
LABEL_CHARS = 60
"""A branch label is cut to this many characters."""


def _short(value: Any) -> str:
    if isinstance(value, str):
        return value if len(value) <= 40 else value[:39] + "…"
    return _SHORT.repr(value)  # bounded: a huge payload value costs nothing to show


def branch_labels(targets: list[str], payloads: list[Any]) -> tuple[str, ...]:
    """One short label per branch of a fork: ``target`` and the payload
    fields whose values differ between branches (``reviewer focus=security``);
    every field when only one branch has a payload; a non-dict payload (a
    ``for`` item) as its value. Values are shortened with :mod:`reprlib`
    limits, so a 10 000-branch fork with large payloads stays cheap (one
    comparison per field and branch)."""
    dicts = [p for p in payloads if isinstance(p, dict)]
    varying: set[str] | None = None
    if len(dicts) > 1:
        first = dicts[0]
        varying = {k for k in set().union(*dicts)
                   if any(k not in d or k not in first or d[k] is not first[k] and d[k] != first[k] for d in dicts)}
    out = []
    for target, p in zip(targets, payloads):
        if isinstance(p, dict):
            keys = [k for k in p if varying is None or k in varying] or list(p)[:1]
            text = " ".join(f"{k}={_short(p[k])}" for k in keys)
        elif p is None:
            text = ""
        else:
            text = _short(p)
        label = f"{target} {text}".strip()
        out.append(label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…")
    return tuple(out)


def event_type(ev: Event) -> str:
    """``NodeCompleted`` -> ``"node_completed"``."""
    return _SNAKE.sub("_", type(ev).__name__).lower()


def to_json(ev: Event) -> dict[str, Any]:
    """A JSON-ready dict: ``{"type": ..., **fields}``."""
    from ragc.registry.secrets import redact_value

    out: dict[str, Any] = {"type": event_type(ev)}
    for f in dataclasses.fields(ev):
        v = getattr(ev, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return redact_value(out)  # a secret quoted by a tool result or a provider error stays out of --json


EVENT_TYPES: dict[str, type[Event]] = {
    _SNAKE.sub("_", cls.__name__).lower(): cls
    for cls in (RunStarted, RunFinished, NodeStarted, NodeCompleted, NodeFailed, NodeRetried, NodeCancelled,
                ModelCallStarted, ModelCallCompleted, ModelDelta, ModelRetry, ToolCallStarted, ToolCallCompleted,
                RouteChosen, FanOutStarted, BranchFinished, JoinFired, Checkpoint, InterruptRaised, Warning,
                BreakerOpened, BackpressureWait)
}
"""Event classes by their ``type`` string (for reading JSONL back)."""
