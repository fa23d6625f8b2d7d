"""Typed journal records: the one module that writes and reads record payloads.

A run's journal (:mod:`ragc.runtime.journal`) stores rows ``(seq,
activation, kind, payload_json, ts)``. This module gives every ``kind`` a
frozen dataclass with an :meth:`encode` (the payload written) and a
``decode`` (the payload read), so the scheduler, the replay index, ``ragc
runs show/events``, the inspector and ``ragc runs fork`` agree on one shape.
The payload keys of ``node_completed`` are one letter each (``r``, ``o``,
``w``, ``l``, ``u``, ``e``, ``d``) because a fan-out of 10 000 branches
writes 10 000 of them; the table in ``docs/runtime.md`` ("The journal")
lists every key.

Versioning: :data:`RECORDS_VERSION` is the version of these payload shapes.
A SQLite journal stores the version it was written with in its ``meta``
table (``records_version``); a journal written before versioning existed
has the same shapes as version 1 and is stamped 1 when opened (that is its
migration). A journal of a newer version is refused by
:func:`check_version` with a message that names both versions, instead of
being misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

RECORDS_VERSION = 1
"""Version of the payload shapes below (bump on any incompatible change and
add a migration from the previous version to :func:`migrate`)."""


class JournalFormatError(ValueError):
    """A record's payload does not have its kind's shape, or its kind is
    unknown (a journal from another ragc, or a damaged one). The message
    names the record's seq and activation."""


def check_version(found: int, where: str) -> None:
    """Refuse a journal whose records are newer than this ragc reads.

    Args:
        found: the ``records_version`` stored in the journal.
        where: the journal's path (for the message).

    Raises:
        JournalFormatError: ``found`` > :data:`RECORDS_VERSION`.
    """
    if found > RECORDS_VERSION:
        raise JournalFormatError(f"{where}: its records are version {found}, this ragc reads versions up to "
                                 f"{RECORDS_VERSION}; use a newer ragc, or start a new journal with --journal")


def migrate(found: int) -> int:
    """The version a journal of version ``found`` has after migration.

    Version 1 is the first; there is nothing older to migrate from (an
    unstamped journal is version 1)."""
    return max(found, RECORDS_VERSION)


@dataclass(slots=True)
class NodeCompleted:
    """An activation finished: what it returned and wrote, and where it routed.

    Not frozen, unlike the other records: one is built per activation on the
    hot path, and the driver fills in ``usage`` and ``duration_s``.

    Attributes:
        result: the node's result (``result`` in ``update`` and routes).
        output_is_result: the write to the node's ``output`` channel is the
            result itself (so it is not stored twice).
        writes: the other writes, ``(channel, update)`` in order (deltas
            through the channel's reducer, never state snapshots).
        label: the route label chosen (``None``: no routing by label).
        usage: model/tool usage of the activation (``None``: none).
        error: the errors-channel entry when an ``error`` route took a failure.
        duration_s: wall time of the activation, seconds.
    """

    KIND: ClassVar[str] = "node_completed"
    result: Any = None
    output_is_result: bool = False
    writes: list[tuple[str, Any]] = field(default_factory=list)
    label: str | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    duration_s: float = 0.0

    def encode(self) -> dict[str, Any]:
        p: dict[str, Any] = {"r": self.result}
        if self.output_is_result:
            p["o"] = 1
        if self.writes:
            p["w"] = [list(w) for w in self.writes]
        if self.label is not None:
            p["l"] = self.label
        if self.usage:
            p["u"] = self.usage
        if self.error is not None:
            p["e"] = self.error
        p["d"] = round(self.duration_s, 6)
        return p

    @classmethod
    def decode(cls, p: dict[str, Any]) -> "NodeCompleted":
        return cls(p.get("r"), bool(p.get("o")), [(w[0], w[1]) for w in p.get("w") or ()], p.get("l"),
                   p.get("u") or None, p.get("e"), float(p.get("d", 0.0)))


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """A fork's join fired (written at the fork's activation).

    Attributes:
        statuses: one character per branch: ``o`` ok, ``f`` failed, ``c``
            cancelled, ``s`` skipped (so 10 000 branches are one string).
        outcome: ``ok`` or ``error``.
        errors: branch index -> errors-channel entry of a failed branch.
        counts: ``{"succeeded", "failed", "cancelled", "skipped"}``.
    """

    KIND: ClassVar[str] = "join_outcome"
    statuses: str
    outcome: str = "ok"
    errors: dict[int, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def encode(self) -> dict[str, Any]:
        return {"statuses": self.statuses, "outcome": self.outcome,
                "errors": {str(k): v for k, v in self.errors.items()}, "counts": self.counts}

    @classmethod
    def decode(cls, p: dict[str, Any]) -> "JoinOutcome":
        return cls(str(p["statuses"]), str(p.get("outcome", "ok")),
                   {int(k): v for k, v in (p.get("errors") or {}).items()}, dict(p.get("counts") or {}))


@dataclass(frozen=True, slots=True)
class Effect:
    """One model or tool call of an activation attempt (or one ``.ragsh``
    cell of a ``kind repl`` node), journaled before the activation goes on,
    so a resume serves it instead of calling (or evaluating) again.

    Attributes:
        key: ``m1``, ``t1``, ``t1.2``, ``c2`` (a cell)..., prefixed ``a2/`` for attempt 2.
        kind: ``model``, ``tool`` or ``cell``.
        value: the reply (a ``ModelResponse`` or ``ToolResult`` dump; for a
            cell, :meth:`ragc.repl.codeact.CodeActLoop.cell`'s record).
    """

    KIND: ClassVar[str] = "effect"
    key: str
    kind: Literal["model", "tool", "cell"]
    value: Any = None

    def encode(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "value": self.value}

    @classmethod
    def decode(cls, p: dict[str, Any]) -> "Effect":
        return cls(str(p["key"]), p["kind"], p.get("value"))

    def sources(self) -> tuple[str, ...]:
        """The files/URLs a successful tool call returned (``()`` otherwise)."""
        v = self.value
        if self.kind != "tool" or not isinstance(v, dict) or v.get("is_error"):
            return ()
        return tuple(v.get("sources") or ())


@dataclass(frozen=True, slots=True)
class InterruptAsked:
    """An interrupt node asked a question; the run waits for an answer.

    Attributes:
        question: the text shown.
        options: the allowed answers (``[]``: any answer).
        default: the answer taken when ``deadline`` passes (``None``: none).
        deadline: epoch seconds after which ``default`` applies, or ``None``.
        asked: epoch seconds when asked.
        node, activation: where it was asked.
    """

    KIND: ClassVar[str] = "interrupt"
    activation: str
    node: str
    question: str
    options: tuple[Any, ...] = ()
    default: Any = None
    deadline: float | None = None
    asked: float = 0.0

    def encode(self) -> dict[str, Any]:
        return {"activation": self.activation, "node": self.node, "question": self.question,
                "options": list(self.options), "default": self.default, "deadline": self.deadline,
                "asked": self.asked}

    @classmethod
    def decode(cls, p: dict[str, Any]) -> "InterruptAsked":
        return cls(str(p.get("activation", "")), str(p.get("node", "")), str(p.get("question", "")),
                   tuple(p.get("options") or ()), p.get("default"), p.get("deadline"), float(p.get("asked") or 0.0))


@dataclass(frozen=True, slots=True)
class Answer:
    """An interrupt's answer: ``source`` is ``user`` (``ragc resume
    --answer``, the API, the inspector) or ``default`` (the deadline passed).
    ``value`` may be ``None`` when the options allow it."""

    KIND: ClassVar[str] = "answer"
    value: Any
    source: str = "user"

    def encode(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}

    @classmethod
    def decode(cls, p: dict[str, Any]) -> "Answer":
        return cls(p.get("value"), str(p.get("source", "user")))


@dataclass(frozen=True, slots=True)
class Resumed:
    """A resume leg started: its number (the first leg is 1), whether it was
    forced past a changed graph, and the IR hash it runs."""

    KIND: ClassVar[str] = "resumed"
    leg: int
    forced: bool = False
    ir_hash: str | None = None

    def encode(self) -> dict[str, Any]:
        return {"leg": self.leg, "forced": self.forced, "ir_hash": self.ir_hash}

    @classmethod
    def decode(cls, p: dict[str, Any]) -> "Resumed":
        return cls(int(p.get("leg", 0)), bool(p.get("forced")), p.get("ir_hash"))


TypedRecord = Union[NodeCompleted, JoinOutcome, Effect, InterruptAsked, Answer, Resumed]
"""Any record payload."""

KINDS: dict[str, type] = {c.KIND: c for c in (NodeCompleted, JoinOutcome, Effect, InterruptAsked, Answer, Resumed)}
"""Record kind -> its class."""


def encode(rec: TypedRecord) -> tuple[str, dict[str, Any]]:
    """``(kind, payload)`` of a typed record, for :meth:`Recorder.record`."""
    return rec.KIND, rec.encode()


def decode(kind: str, payload: Any, *, seq: int | None = None, activation: str = "") -> TypedRecord:
    """The typed record of a journal row.

    Raises:
        JournalFormatError: unknown ``kind``, or a payload without its
            kind's shape (the message names ``seq`` and ``activation``).
    """
    cls = KINDS.get(kind)
    where = f"journal record {seq}" if seq is not None else "a journal record"
    if activation:
        where += f" (activation {activation})"
    if cls is None:
        raise JournalFormatError(f"{where}: unknown record kind {kind!r}; known: {', '.join(KINDS)}")
    if not isinstance(payload, dict):
        raise JournalFormatError(f"{where}: a {kind} payload must be an object, not {type(payload).__name__}")
    try:
        return cls.decode(payload)  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise JournalFormatError(f"{where}: malformed {kind} payload ({type(e).__name__}: {e})") from None
