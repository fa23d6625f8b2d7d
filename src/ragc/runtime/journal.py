"""The run journal: runs, records and events, behind a small store interface.

Two stores implement :class:`Store`:

* :class:`SqliteStore` -- the default, one SQLite file (``.ragc/runs.sqlite``
  in the working directory unless a registry ``[stores.*]`` entry says
  otherwise) in WAL mode with ``synchronous=FULL``, so a committed record
  survives ``kill -9`` and power loss. Writes go through one writer thread
  that *group-commits*: records that arrive while a commit (fsync) is in
  progress are committed together in the next transaction, so a fan-out of
  1 000 branches does not pay 1 000 serial fsyncs. A caller's ``await
  commit(...)`` returns once its batch is durable.
* :class:`MemoryStore` -- the same interface in process memory (tests, the
  API's ``journal="memory"``).

Tables (SQLite)::

    runs(id, graph, ir_hash, ir_json, status, input_json, created, updated,
         error_json, usage_json, interrupt_json, output_json, source,
         registry, workspace, parent, meta_json)
    records(run_id, seq, activation, kind, payload_json, ts)
    events(run_id, seq, type, payload_json)
    leases(run_id, token, pid, host, acquired, heartbeat)

The ``leases`` table holds at most one owner per run: the process that
executes it (:meth:`Store.claim_lease`, claimed in one ``BEGIN IMMEDIATE``
transaction, so of two processes that claim together exactly one wins).
The owner refreshes ``heartbeat`` every :data:`HEARTBEAT_S` seconds
(:class:`LeaseKeeper`) and deletes the row when its leg ends. Every commit
of a run this store claimed checks, in its own transaction, that the lease
is still ours: a process suspended past the stale limit whose run was taken
over fails its next write (``LeaseHeld``) instead of writing beside the new
owner. A lease whose
process is gone (same host, pid not alive) or whose heartbeat is older than
:data:`LEASE_STALE_S` is stale: a new claim takes it over, and ``ragc runs``
shows such a ``running`` run as ``crashed``.

Record kinds (``payload`` shapes in ``docs/runtime.md``): ``node_completed``
(result, writes as deltas, routing decision, usage), ``join_outcome``
(per-branch status, error entries), ``effect`` (one model or tool call of an
activation, keyed), ``interrupt`` (the pending question), ``answer`` (a
human's answer), ``resumed`` (a resume leg started). Records are never
updated or deleted; a record is written once and a prefix of a run's records
(by ``seq``) is always a consistent state to resume from -- which is what
``ragc runs fork --step N`` relies on.
"""

from __future__ import annotations

import abc

import asyncio
import json
import os
import queue
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ragc.registry.secrets import active as secrets_active, redact
from ragc.runtime.records import JournalFormatError, TypedRecord, check_version, decode, migrate

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  graph TEXT NOT NULL,
  ir_hash TEXT NOT NULL,
  ir_json TEXT NOT NULL,
  status TEXT NOT NULL,
  input_json TEXT NOT NULL,
  created REAL NOT NULL,
  updated REAL NOT NULL,
  error_json TEXT,
  usage_json TEXT,
  interrupt_json TEXT,
  output_json TEXT,
  source TEXT,
  registry TEXT,
  workspace TEXT,
  parent TEXT,
  meta_json TEXT
);
CREATE TABLE IF NOT EXISTS records (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  activation TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  ts REAL NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
  run_id TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  acquired REAL NOT NULL,
  heartbeat REAL NOT NULL
);
"""

RUN_FIELDS = ("status", "updated", "error_json", "usage_json", "interrupt_json", "output_json", "meta_json",
              "ir_hash", "ir_json")
"""Columns :meth:`Store.commit` may update on an existing run."""


class StoreError(Exception):
    """The journal cannot be opened, read or written; ``str()`` is one line."""


HEARTBEAT_S = 2.0
"""Seconds between an owner's heartbeats."""

LEASE_STALE_S = 15.0
"""A lease whose heartbeat is older than this (seconds) is stale, whatever
its pid: the owner hangs, or runs on another host that cannot be asked."""


@dataclass(frozen=True)
class Lease:
    """The owner of a run: a random ``token`` per claim, its ``pid`` and
    ``host``, when it claimed the run and its last ``heartbeat`` (Unix
    seconds)."""

    run_id: str
    token: str
    pid: int
    host: str
    acquired: float
    heartbeat: float

    def stale(self, now: float | None = None) -> bool:
        """Is the owner gone: a dead pid on this host, or a heartbeat older
        than :data:`LEASE_STALE_S`?"""
        now = time.time() if now is None else now
        if now - self.heartbeat > LEASE_STALE_S:
            return True
        return self.host == socket.gethostname() and not pid_alive(self.pid)


class LeaseHeld(StoreError):
    """Another live process owns the run; ``holder`` is its :class:`Lease`."""

    def __init__(self, holder: Lease):
        super().__init__(f"run {holder.run_id} is being run by process {holder.pid} on {holder.host}")
        self.holder = holder


def pid_alive(pid: int) -> bool:
    """Does process ``pid`` exist on this host (a zombie counts as gone)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a killed child not yet reaped by its parent is a zombie: gone
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def display_status(info: "RunInfo", lease: Lease | None) -> str:
    """The status an operator should see: the journaled one, except that a
    ``running`` run without a live owner is ``crashed`` and a run waiting
    for a human (journaled ``interrupted``) is ``waiting``."""
    if info.status == "running" and (lease is None or lease.stale()):
        return "crashed"
    if info.status == "interrupted":
        return "waiting"
    return info.status


def _default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    fields = getattr(obj, "__dataclass_fields__", None)
    if fields is not None:
        return {k: getattr(obj, k) for k in fields}
    return str(obj)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)
dumps: Callable[[Any], str] = _ENCODER.encode
"""Compact JSON of a journal value (pydantic models, sets and dataclasses converted)."""
loads = json.loads


@dataclass
class RunInfo:
    """One row of ``runs`` (JSON columns decoded).

    ``input`` and ``ir_json`` are loaded only by :meth:`Store.get_run`
    (``full=True``), not by listings.
    """

    id: str
    graph: str
    ir_hash: str
    status: str
    created: float
    updated: float
    error: dict | None = None
    usage: dict | None = None
    interrupt: dict | None = None
    output: Any = None
    source: str | None = None
    registry: str | None = None
    workspace: str | None = None
    parent: str | None = None
    meta: dict = field(default_factory=dict)
    input: Any = None
    ir_json: str | None = None


@dataclass(slots=True)
class Record:
    """One journal row; :meth:`typed` decodes its payload."""

    seq: int
    activation: str
    kind: str
    payload: Any
    ts: float

    def typed(self) -> TypedRecord:
        """The payload as its kind's dataclass (:mod:`ragc.runtime.records`).

        Raises:
            JournalFormatError: unknown kind or malformed payload.
        """
        return decode(self.kind, self.payload, seq=self.seq, activation=self.activation)


@dataclass
class Batch:
    """What one commit writes: ``records`` rows ``(run_id, seq, activation,
    kind, payload_json, ts)``, ``events`` rows ``(run_id, seq, type,
    payload_json)``, and ``run_updates`` (``run_id -> {column: value}``,
    columns from :data:`RUN_FIELDS`), plus an optional new ``run_row``."""

    records: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    run_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_row: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return bool(self.records or self.events or self.run_updates or self.run_row)


class Store(abc.ABC):
    """The store interface (see module docs). All reads are synchronous;
    :meth:`commit` is awaited by the runtime and :meth:`commit_sync` is used
    outside an event loop (CLI, fork)."""

    durable = False

    @abc.abstractmethod
    async def commit(self, batch: Batch) -> None:
        """Apply ``batch`` in one transaction, durably for a durable store; raises :class:`StoreError`."""

    @abc.abstractmethod
    def commit_sync(self, batch: Batch) -> None:
        """Like :meth:`commit`, for callers outside an event loop."""

    @abc.abstractmethod
    def get_run(self, run_id: str, *, full: bool = True) -> RunInfo | None:
        """The run ``run_id`` (``full``: with its IR and input), or ``None``."""

    @abc.abstractmethod
    def list_runs(self, limit: int = 50) -> list[RunInfo]:
        """The ``limit`` most recently updated runs, newest first."""

    @abc.abstractmethod
    def records(self, run_id: str, *, upto: int | None = None) -> list[Record]:
        """A run's records in ``seq`` order (only ``seq <= upto`` when given)."""

    @abc.abstractmethod
    def events(self, run_id: str) -> list[dict]:
        """A run's recorded events (JSON dicts, :func:`ragc.events.to_json` form) in order."""

    @abc.abstractmethod
    def last_seq(self, run_id: str) -> tuple[int, int]:
        """``(last record seq, last event seq)`` of a run (0 when none)."""

    @abc.abstractmethod
    def fork(self, run_id: str, step: int, new_id: str) -> RunInfo:
        """Copy run ``run_id`` and its records with ``seq <= step`` into a
        new run ``new_id`` (status ``pending``). Raises :class:`StoreError`."""

    @abc.abstractmethod
    def claim_lease(self, run_id: str, token: str, *, pid: int | None = None, host: str | None = None) -> Lease:
        """Become the owner of ``run_id`` atomically (module docs), taking
        over a stale lease; returns the new lease.

        Raises:
            LeaseHeld: a live process owns the run.
            StoreError: the journal cannot be written.
        """

    @abc.abstractmethod
    def heartbeat(self, run_id: str, token: str) -> bool:
        """Refresh the heartbeat of our lease; ``False`` if it is no longer ours."""

    @abc.abstractmethod
    def release_lease(self, run_id: str, token: str) -> None:
        """Give up our lease of ``run_id`` (nothing if it is not ours)."""

    @abc.abstractmethod
    def lease(self, run_id: str) -> Lease | None:
        """The current lease of ``run_id`` (live or stale), or ``None``."""

    def close(self) -> None:
        """Finish pending writes and release the store (no-op by default)."""
        return None


class LeaseKeeper:
    """Claims a run's lease and keeps its heartbeat in a daemon thread (so
    an event loop busy with a long local model call does not let it go
    stale); :meth:`release` stops the thread and deletes the lease.

    Args:
        store: the journal.
        run_id: the run to own.

    Raises:
        LeaseHeld, StoreError: from :meth:`Store.claim_lease`.
    """

    def __init__(self, store: Store, run_id: str):
        import secrets

        self.store, self.run_id = store, run_id
        self.token = secrets.token_hex(8)
        self.lease = store.claim_lease(run_id, self.token)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"ragc-lease-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if not self.store.heartbeat(self.run_id, self.token):
                    return
            except StoreError:
                continue  # a busy or briefly unwritable journal: try again at the next beat

    def release(self) -> None:
        """Stop the heartbeat and delete the lease (errors are ignored: a
        lease left behind goes stale by itself)."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.store.release_lease(self.run_id, self.token)
        except StoreError:
            pass


def _run_row(info: RunInfo, ir_json: str, input_json: str) -> dict[str, Any]:
    return {
        "id": info.id, "graph": info.graph, "ir_hash": info.ir_hash, "ir_json": ir_json, "status": info.status,
        "input_json": input_json, "created": info.created, "updated": info.updated,
        "error_json": dumps(info.error) if info.error is not None else None,
        "usage_json": dumps(info.usage) if info.usage is not None else None,
        "interrupt_json": dumps(info.interrupt) if info.interrupt is not None else None,
        "output_json": None, "source": info.source, "registry": info.registry, "workspace": info.workspace,
        "parent": info.parent, "meta_json": dumps(info.meta or {}),
    }


def new_run_row(info: RunInfo, ir_json: str, input_value: Any) -> dict[str, Any]:
    """The ``runs`` row of a new run (input serialized once, here)."""
    return _run_row(info, ir_json, dumps(input_value))


def _info_from_row(row: sqlite3.Row | dict, full: bool) -> RunInfo:
    def j(col: str) -> Any:
        v = row[col]
        return loads(v) if v is not None else None

    info = RunInfo(id=row["id"], graph=row["graph"], ir_hash=row["ir_hash"], status=row["status"],
                   created=row["created"], updated=row["updated"], error=j("error_json"), usage=j("usage_json"),
                   interrupt=j("interrupt_json"), output=j("output_json"), source=row["source"],
                   registry=row["registry"], workspace=row["workspace"], parent=row["parent"],
                   meta=j("meta_json") or {})
    if full:
        info.input = j("input_json")
        info.ir_json = row["ir_json"]
    return info


# --------------------------------------------------------------------------- memory


class MemoryStore(Store):
    """A store in process memory (lost at exit)."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, Any]] = {}
        self._records: dict[str, list[tuple]] = {}
        self._events: dict[str, list[tuple]] = {}
        self._leases: dict[str, Lease] = {}
        self._lease_lock = threading.Lock()

    def claim_lease(self, run_id: str, token: str, *, pid: int | None = None, host: str | None = None) -> Lease:
        with self._lease_lock:
            held = self._leases.get(run_id)
            if held is not None and held.token != token and not held.stale():
                raise LeaseHeld(held)
            now = time.time()
            lease = Lease(run_id, token, pid if pid is not None else os.getpid(), host or socket.gethostname(), now, now)
            self._leases[run_id] = lease
            return lease

    def heartbeat(self, run_id: str, token: str) -> bool:
        with self._lease_lock:
            held = self._leases.get(run_id)
            if held is None or held.token != token:
                return False
            self._leases[run_id] = Lease(run_id, token, held.pid, held.host, held.acquired, time.time())
            return True

    def release_lease(self, run_id: str, token: str) -> None:
        with self._lease_lock:
            held = self._leases.get(run_id)
            if held is not None and held.token == token:
                del self._leases[run_id]

    def lease(self, run_id: str) -> Lease | None:
        return self._leases.get(run_id)

    def _apply(self, batch: Batch) -> None:
        batch = _redacted(batch)
        if batch.run_row is not None:
            rid = batch.run_row["id"]
            if rid in self._runs:
                raise StoreError(f"run {rid} already exists")
            self._runs[rid] = dict(batch.run_row)
            self._records.setdefault(rid, [])
            self._events.setdefault(rid, [])
        for row in batch.records:
            self._records.setdefault(row[0], []).append(row)
        for row in batch.events:
            self._events.setdefault(row[0], []).append(row)
        for rid, cols in batch.run_updates.items():
            if rid in self._runs:
                self._runs[rid].update(cols)

    async def commit(self, batch: Batch) -> None:
        self._apply(batch)

    def commit_sync(self, batch: Batch) -> None:
        self._apply(batch)

    def get_run(self, run_id: str, *, full: bool = True) -> RunInfo | None:
        row = self._runs.get(run_id)
        return _info_from_row(row, full) if row else None

    def list_runs(self, limit: int = 50) -> list[RunInfo]:
        rows = sorted(self._runs.values(), key=lambda r: r["created"], reverse=True)[:limit]
        return [_info_from_row(r, False) for r in rows]

    def records(self, run_id: str, *, upto: int | None = None) -> list[Record]:
        out = [Record(r[1], r[2], r[3], loads(r[4]), r[5]) for r in self._records.get(run_id, ())]
        return [r for r in out if upto is None or r.seq <= upto]

    def events(self, run_id: str) -> list[dict]:
        return [loads(r[3]) for r in self._events.get(run_id, ())]

    def last_seq(self, run_id: str) -> tuple[int, int]:
        recs, evs = self._records.get(run_id) or [], self._events.get(run_id) or []
        return (recs[-1][1] if recs else 0, evs[-1][1] if evs else 0)

    def fork(self, run_id: str, step: int, new_id: str) -> RunInfo:
        row = self._runs.get(run_id)
        if row is None:
            raise StoreError(f"no run {run_id}")
        now = time.time()
        new = dict(row, id=new_id, status="pending", created=now, updated=now, parent=run_id, error_json=None,
                   interrupt_json=None, output_json=None, usage_json=None)
        self._runs[new_id] = new
        self._records[new_id] = [(new_id,) + r[1:] for r in self._records.get(run_id, ()) if r[1] <= step]
        self._events[new_id] = []
        return _info_from_row(new, True)


# --------------------------------------------------------------------------- sqlite


class _Writer(threading.Thread):
    """The single writer thread of a :class:`SqliteStore` (group commit)."""

    def __init__(self, store: "SqliteStore"):
        super().__init__(name=f"ragc-journal-{store.path.name}", daemon=True)
        self.store = store
        self.q: queue.SimpleQueue = queue.SimpleQueue()

    def run(self) -> None:
        # The connection is opened (and, after a failure, re-opened) inside
        # the loop, so a connection that cannot be opened fails the waiting
        # commits with that error instead of leaving them waiting forever.
        conn: sqlite3.Connection | None
        try:
            conn = self.store._connect()  # now, so the first commit does not pay for it
        except sqlite3.Error:
            conn = None
        stop = False
        while not stop:
            item = self.q.get()
            if item is None:
                break
            items = [item]
            while True:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            err: BaseException | None = None
            lost: list[BaseException | None] = [None] * len(items)
            try:
                if conn is None:
                    conn = self.store._connect()
                conn.execute("BEGIN IMMEDIATE")
                for i, (batch, _) in enumerate(items):
                    # in the same transaction: a process whose lease was taken over
                    # (it was suspended past the stale limit) writes nothing more
                    lost[i] = self.store._lease_lost(conn, batch)
                    if lost[i] is None:
                        _write_batch(conn, batch)
                conn.execute("COMMIT")
            except BaseException as e:  # report to every waiter; keep the thread alive
                err = e
                if conn is not None:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
            for i, (_, done) in enumerate(items):
                done(lost[i] or err)
        if conn is not None:
            conn.close()


def _redacted(batch: Batch) -> Batch:
    """``batch`` with every remembered secret (:mod:`ragc.registry.secrets`)
    replaced in its text: nothing the journal writes holds a key."""
    if not secrets_active():
        return batch

    def row(r: tuple) -> tuple:
        return tuple(redact(v) if isinstance(v, str) else v for v in r)

    def cols(d: dict[str, Any]) -> dict[str, Any]:
        return {k: redact(v) if isinstance(v, str) else v for k, v in d.items()}

    return Batch(records=[row(r) for r in batch.records], events=[row(r) for r in batch.events],
                 run_updates={rid: cols(u) for rid, u in batch.run_updates.items()},
                 run_row=cols(batch.run_row) if batch.run_row is not None else None)


def _write_batch(conn: sqlite3.Connection, batch: Batch) -> None:
    batch = _redacted(batch)
    if batch.run_row is not None:
        cols = list(batch.run_row)
        conn.execute(f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                     [batch.run_row[c] for c in cols])
    if batch.records:
        if len(batch.records) == 1:
            conn.execute("INSERT INTO records VALUES (?,?,?,?,?,?)", batch.records[0])
        else:
            conn.executemany("INSERT INTO records VALUES (?,?,?,?,?,?)", batch.records)
    if batch.events:
        conn.executemany("INSERT INTO events VALUES (?,?,?,?)", batch.events)
    for rid, upd in batch.run_updates.items():
        cols = [c for c in upd if c in RUN_FIELDS]
        if cols:
            conn.execute(f"UPDATE runs SET {', '.join(c + '=?' for c in cols)} WHERE id=?",
                         [upd[c] for c in cols] + [rid])


def _resolve(fut: asyncio.Future, err: BaseException | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(f"journal write failed: {err}"))


class SqliteStore(Store):
    """A SQLite journal file (WAL, ``synchronous=FULL``).

    Args:
        path: the database file; its directory is created if needed.

    Raises:
        StoreError: the file cannot be created or opened, or is not a ragc
            journal of a known schema version.
    """

    durable = True

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().resolve()
        conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(f"{self.path}: journal schema version {row[0]} (this ragc reads {SCHEMA_VERSION})")
            self._check_records_version(conn)
        except (sqlite3.Error, OSError, StoreError) as e:
            if conn is not None:
                conn.close()
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"cannot open the journal {self.path}: {e}") from None
            if isinstance(e, OSError):
                raise StoreError(f"cannot create the journal {self.path}: {e.strerror or e}") from None
            raise
        self._read = conn
        self._read_lock = threading.Lock()
        self._writer: _Writer | None = None
        self._writer_lock = threading.Lock()
        self._local = threading.local()
        self._lease_conns: list[sqlite3.Connection] = []
        self._owned: dict[str, str] = {}  # run id -> token of the leases this store claimed
        self._ensure_writer()  # started now, so the first commit does not pay for it

    def _check_records_version(self, conn: sqlite3.Connection) -> None:
        """Refuse records newer than this ragc reads; stamp (migrate) older ones.

        Raises:
            StoreError: the journal's records are of a newer version.
        """
        row = conn.execute("SELECT value FROM meta WHERE key='records_version'").fetchone()
        found = int(row[0]) if row is not None and str(row[0]).isdigit() else 1  # unstamped: version 1
        try:
            check_version(found, str(self.path))
        except JournalFormatError as e:
            raise StoreError(str(e)) from None
        target = migrate(found)
        if row is None or target != found:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('records_version', ?)", (str(target),))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _ensure_writer(self) -> _Writer:
        w = self._writer
        if w is None or not w.is_alive():
            with self._writer_lock:
                w = self._writer
                if w is None or not w.is_alive():
                    w = _Writer(self)
                    w.start()
                    self._writer = w
        return w

    async def commit(self, batch: Batch) -> None:
        """Write ``batch`` durably; returns after the COMMIT (fsync).

        Raises:
            StoreError: the write failed (disk full, file removed...).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another async backend: hand over to a worker thread
            import anyio.to_thread

            await anyio.to_thread.run_sync(self.commit_sync, batch)
            return
        fut = loop.create_future()
        self._ensure_writer().q.put((batch, lambda err: loop.call_soon_threadsafe(_resolve, fut, err)))
        await fut

    def commit_sync(self, batch: Batch) -> None:
        """Write ``batch`` durably from a thread without an event loop."""
        done = threading.Event()
        box: list[BaseException | None] = [None]

        def finished(err: BaseException | None) -> None:
            box[0] = err
            done.set()

        self._ensure_writer().q.put((batch, finished))
        done.wait()
        if box[0] is not None:
            raise StoreError(f"journal write failed: {box[0]}")

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            with self._read_lock:
                return self._read.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read the journal {self.path}: {e}") from None

    def get_run(self, run_id: str, *, full: bool = True) -> RunInfo | None:
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        return _info_from_row(rows[0], full) if rows else None

    def find_runs(self, prefix: str) -> list[str]:
        """Run ids starting with ``prefix`` (for abbreviated ids)."""
        return [r["id"] for r in self._query("SELECT id FROM runs WHERE id LIKE ? ORDER BY created DESC LIMIT 10",
                                              (prefix.replace("%", "") + "%",))]

    def list_runs(self, limit: int = 50) -> list[RunInfo]:
        cols = ("id, graph, ir_hash, status, created, updated, error_json, usage_json, interrupt_json, output_json, "
                "source, registry, workspace, parent, meta_json")
        rows = self._query(f"SELECT {cols} FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        return [_info_from_row(r, False) for r in rows]

    def records(self, run_id: str, *, upto: int | None = None) -> list[Record]:
        if upto is None:
            rows = self._query("SELECT seq, activation, kind, payload_json, ts FROM records WHERE run_id=? ORDER BY seq",
                               (run_id,))
        else:
            rows = self._query("SELECT seq, activation, kind, payload_json, ts FROM records WHERE run_id=? AND seq<=? "
                               "ORDER BY seq", (run_id, upto))
        return [Record(r[0], r[1], r[2], loads(r[3]), r[4]) for r in rows]

    def events(self, run_id: str) -> list[dict]:
        rows = self._query("SELECT payload_json FROM events WHERE run_id=? ORDER BY seq", (run_id,))
        return [loads(r[0]) for r in rows]

    def last_seq(self, run_id: str) -> tuple[int, int]:
        a = self._query("SELECT MAX(seq) FROM records WHERE run_id=?", (run_id,))[0][0] or 0
        b = self._query("SELECT MAX(seq) FROM events WHERE run_id=?", (run_id,))[0][0] or 0
        return a, b

    def fork(self, run_id: str, step: int, new_id: str) -> RunInfo:
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            raise StoreError(f"no run {run_id} in {self.path}")
        row = dict(rows[0])
        now = time.time()
        row.update(id=new_id, status="pending", created=now, updated=now, parent=run_id, error_json=None,
                   interrupt_json=None, output_json=None, usage_json=None)
        recs = self._query("SELECT seq, activation, kind, payload_json, ts FROM records WHERE run_id=? AND seq<=? "
                           "ORDER BY seq", (run_id, step))
        batch = Batch(run_row=row, records=[(new_id, r[0], r[1], r[2], r[3], r[4]) for r in recs])
        self.commit_sync(batch)
        return _info_from_row(row, True)

    def _lease_conn(self) -> sqlite3.Connection:
        # a connection of the calling thread's own: the claim's transaction
        # must not interleave with the reader's or the writer's statements
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._writer_lock:
                self._lease_conns.append(conn)
        return conn

    def _lease_lost(self, conn: sqlite3.Connection, batch: Batch) -> BaseException | None:
        """Inside the writer's transaction: a :class:`LeaseHeld` when
        ``batch`` writes to a run this store claimed whose lease now belongs
        to another owner, else ``None``."""
        owned = self._owned
        if not owned:
            return None
        runs = {r[0] for r in batch.records} | {r[0] for r in batch.events} | set(batch.run_updates)
        for rid in runs & owned.keys():
            row = conn.execute("SELECT run_id, token, pid, host, acquired, heartbeat FROM leases WHERE run_id=?",
                               (rid,)).fetchone()
            if row is None or row[1] != owned[rid]:
                if row is None:
                    return StoreError(f"run {rid}: this process no longer holds its lease")
                return LeaseHeld(Lease(*tuple(row)))
        return None

    def claim_lease(self, run_id: str, token: str, *, pid: int | None = None, host: str | None = None) -> Lease:
        now = time.time()
        lease = Lease(run_id, token, pid if pid is not None else os.getpid(), host or socket.gethostname(), now, now)
        try:
            conn = self._lease_conn()
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: claimers are serialized from here
            try:
                row = conn.execute("SELECT run_id, token, pid, host, acquired, heartbeat FROM leases WHERE run_id=?",
                                   (run_id,)).fetchone()
                if row is not None:
                    held = Lease(*tuple(row))
                    if held.token != token and not held.stale(now):
                        raise LeaseHeld(held)
                conn.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?)",
                             (lease.run_id, lease.token, lease.pid, lease.host, lease.acquired, lease.heartbeat))
                conn.execute("COMMIT")
                self._owned[run_id] = token
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise StoreError(f"cannot claim run {run_id} in {self.path}: {e}") from None
        return lease

    def heartbeat(self, run_id: str, token: str) -> bool:
        try:
            cur = self._lease_conn().execute("UPDATE leases SET heartbeat=? WHERE run_id=? AND token=?",
                                             (time.time(), run_id, token))
        except sqlite3.Error as e:
            raise StoreError(f"cannot refresh the lease of run {run_id}: {e}") from None
        return cur.rowcount == 1

    def release_lease(self, run_id: str, token: str) -> None:
        if self._owned.get(run_id) == token:
            del self._owned[run_id]
        try:
            self._lease_conn().execute("DELETE FROM leases WHERE run_id=? AND token=?", (run_id, token))
        except sqlite3.Error as e:
            raise StoreError(f"cannot release the lease of run {run_id}: {e}") from None

    def lease(self, run_id: str) -> Lease | None:
        rows = self._query("SELECT run_id, token, pid, host, acquired, heartbeat FROM leases WHERE run_id=?", (run_id,))
        return Lease(*tuple(rows[0])) if rows else None

    def close(self) -> None:
        """Stop the writer thread (after pending commits) and close."""
        w = self._writer
        if w is not None and w.is_alive():
            w.q.put(None)
            w.join(timeout=30)
        self._writer = None
        with self._writer_lock:
            conns, self._lease_conns = self._lease_conns, []
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:
                pass
        with self._read_lock:
            try:
                self._read.close()
            except sqlite3.Error:
                pass


def open_store(spec: "str | os.PathLike | Store | None", *, cwd: str | os.PathLike | None = None) -> Store | None:
    """A store from the API/CLI spelling: ``"sqlite"`` (``.ragc/runs.sqlite``
    under ``cwd``), ``"memory"``, a path to a SQLite file, a :class:`Store`,
    or ``None`` (no journal).

    Raises:
        StoreError: the SQLite file cannot be opened.
    """
    if spec is None or isinstance(spec, Store):
        return spec
    if spec == "memory":
        return MemoryStore()
    base = Path(cwd) if cwd is not None else Path.cwd()
    if spec == "sqlite":
        return SqliteStore(base / ".ragc" / "runs.sqlite")
    p = Path(spec).expanduser()
    return SqliteStore(p if p.is_absolute() else base / p)
