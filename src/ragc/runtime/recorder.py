"""The write side of the journal for one run, and the event fan-out.

:class:`Recorder` assigns record and event sequence numbers and commits
records through the store. Events are buffered and written in the same
transaction as the next record (so journaling events costs no extra fsync);
:meth:`Recorder.flush` writes what is left.

:class:`EventBus` hands every :mod:`ragc.events` event to the listeners (the
API's ``on_event``, the CLI's live view or JSONL printer) and to the
recorder. When nobody listens and there is no journal, the scheduler does
not even build event objects (``EventBus.emit`` is ``None``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable

from ragc.events import Event, ModelDelta, event_type
from ragc.runtime.errors import RunError, RunFatal
from ragc.runtime.journal import Batch, Store, StoreError, dumps


_EVENT_META: dict[type, tuple[str, tuple[str, ...]]] = {}


def event_dict(ev: Event) -> dict[str, Any]:
    """``ragc.events.to_json(ev)``, with the field names cached per class
    (events are journaled at every step, so this is on the hot path)."""
    cls = type(ev)
    meta = _EVENT_META.get(cls)
    if meta is None:
        meta = _EVENT_META[cls] = (event_type(ev), tuple(f.name for f in dataclasses.fields(cls)))
    out: dict[str, Any] = {"type": meta[0]}
    for name in meta[1]:
        v = getattr(ev, name)
        out[name] = list(v) if type(v) is tuple else v
    return out


class Recorder:
    """Journal writer of one run.

    Args:
        store: where records go.
        run_id: the run.
        seq, event_seq: the last sequence numbers already used (resume).
    """

    __slots__ = ("store", "run_id", "seq", "event_seq", "_events", "_deferred", "_deferred_run")

    def __init__(self, store: Store, run_id: str, seq: int = 0, event_seq: int = 0):
        self.store = store
        self.run_id = run_id
        self.seq = seq
        self.event_seq = event_seq
        self._events: list[Event] = []
        self._deferred: list[tuple] = []
        self._deferred_run: dict[str, Any] = {}

    def defer(self, items: list[tuple[str, str, Any]], run_updates: dict[str, Any] | None = None) -> None:
        """Queue records ``(kind, activation, payload)`` and run-row updates
        to be written in the same transaction as the next commit (they get
        their sequence numbers now). Used when a resume starts: the answer
        and the "resumed" marker become durable with the first completion,
        saving an fsync; a crash before that leaves the run as it was."""
        now = time.time()
        for kind, activation, payload in items:
            self.seq += 1
            self._deferred.append((self.run_id, self.seq, activation, kind, dumps(payload), now))
        if run_updates:
            self._deferred_run.update(run_updates)

    def _take_deferred(self, batch: Batch) -> Batch:
        if self._deferred:
            batch.records[:0] = self._deferred
            self._deferred = []
        if self._deferred_run:
            upd = dict(self._deferred_run)
            upd.update(batch.run_updates.get(self.run_id, {}))
            upd.setdefault("updated", time.time())
            batch.run_updates[self.run_id] = upd
            self._deferred_run = {}
        return batch

    def event(self, ev: Event) -> None:
        """Buffer an event for the next commit."""
        self._events.append(ev)

    def _event_rows(self) -> list[tuple]:
        if not self._events:
            return []
        rows = []
        rid = self.run_id
        seq = self.event_seq
        for ev in self._events:
            seq += 1
            data = event_dict(ev)
            rows.append((rid, seq, data["type"], dumps(data)))
        self.event_seq = seq
        self._events = []
        return rows

    async def record(self, kind: str, activation: str, payload: Any) -> int:
        """Append one record (and the buffered events) durably; returns its seq.

        Raises:
            RunFatal: the write failed (the run must stop; what was
                committed before stays valid).
        """
        self.seq += 1
        seq = self.seq
        batch = Batch(records=[(self.run_id, seq, activation, kind, dumps(payload), time.time())],
                      events=self._event_rows())
        if self._deferred or self._deferred_run:
            self._take_deferred(batch)
        try:
            await self.store.commit(batch)
        except StoreError as e:
            raise RunFatal(RunError("E0915", f"the run stopped: {e}", kind="journal",
                                    hint="check the disk and the journal file, then `ragc resume` the run")) from None
        return seq

    async def record_many(self, items: list[tuple[str, str, Any]], run_updates: dict[str, Any] | None = None) -> None:
        """Append several records ``(kind, activation, payload)`` and update
        the run row, in one transaction (one fsync).

        Raises:
            RunFatal: the write failed.
        """
        now = time.time()
        rows = []
        for kind, activation, payload in items:
            self.seq += 1
            rows.append((self.run_id, self.seq, activation, kind, dumps(payload), now))
        batch = Batch(records=rows, events=self._event_rows())
        if run_updates:
            run_updates.setdefault("updated", now)
            batch.run_updates[self.run_id] = run_updates
        self._take_deferred(batch)
        try:
            await self.store.commit(batch)
        except StoreError as e:
            raise RunFatal(RunError("E0915", f"the run stopped: {e}", kind="journal")) from None

    async def update_run(self, **cols: Any) -> None:
        """Update columns of the run row (and flush buffered events)."""
        cols.setdefault("updated", time.time())
        await self.store.commit(self._take_deferred(Batch(events=self._event_rows(), run_updates={self.run_id: cols})))

    def update_run_sync(self, **cols: Any) -> None:
        """:meth:`update_run` outside an event loop."""
        cols.setdefault("updated", time.time())
        self.store.commit_sync(self._take_deferred(Batch(events=self._event_rows(), run_updates={self.run_id: cols})))

    async def flush(self) -> None:
        """Write buffered events."""
        batch = self._take_deferred(Batch(events=self._event_rows()))
        if batch:
            await self.store.commit(batch)


Listener = Callable[[Event], None]


class EventBus:
    """Distributes events (see module docs).

    Args:
        listeners: callables receiving each event; they must not block. A
            listener that raises is removed (with one line on stderr).
        recorder: the run's recorder (``None`` without a journal).
    """

    def __init__(self, listeners: list[Listener], recorder: Recorder | None):
        self.listeners = [l for l in listeners if l is not None]
        self.recorder = recorder

    @property
    def emit(self) -> Callable[[Event], None] | None:
        """The sink to call, or ``None`` when nothing would receive events."""
        if not self.listeners and self.recorder is None:
            return None
        return self._emit

    def _emit(self, ev: Event) -> None:
        rec = self.recorder
        if rec is not None and type(ev) is not ModelDelta:
            rec.event(ev)
        for listener in self.listeners:
            try:
                listener(ev)
            except Exception as e:  # a broken listener must not break the run
                print(f"warning: event listener failed on {event_type(ev)}: {type(e).__name__}: {e}",
                      file=sys.stderr)
                self.listeners = [x for x in self.listeners if x is not listener]
