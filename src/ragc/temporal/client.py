"""The client side: connect, start a run, wait, answer, list and show runs.

Connection settings (every command, and the environment): the address
(``--temporal-address``, ``RAGC_TEMPORAL_ADDRESS``, default
``127.0.0.1:7233``), the namespace (``--namespace``,
``RAGC_TEMPORAL_NAMESPACE``, default ``default``), TLS
(``--tls``/``RAGC_TEMPORAL_TLS=1``, with optional ``--tls-cert``,
``--tls-key``, ``--tls-ca`` files or the ``RAGC_TEMPORAL_TLS_*`` variables)
and an API key (``RAGC_TEMPORAL_API_KEY``, implies TLS: Temporal Cloud).
The task queue: ``--task-queue``, ``RAGC_TEMPORAL_TASK_QUEUE``, default
``ragc``.

Expected failures are :class:`~ragc.runtime.errors.RunError` with a hint:
``E0930`` the server cannot be reached, ``E0931`` no worker polls the task
queue, ``E0932`` the ``temporal`` extra is not installed, ``E0933`` no such
run on the server.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragc.runtime.errors import RunError
from ragc.temporal import DEFAULT_TASK_QUEUE, WORKFLOW_NAME

POLL_S = 0.2
"""How often a waiting client asks the run's status (seconds)."""


def require_temporalio() -> None:
    """Raises ``RunError`` ``E0932`` when ``temporalio`` is not installed."""
    try:
        import temporalio  # noqa: F401
    except ImportError:
        raise RunError("E0932", "the Temporal engine needs the `temporal` extra (temporalio is not installed)",
                       kind="config", hint="pip install 'ragc[temporal]'") from None


@dataclass
class Connection:
    """Where the Temporal server is (see module docs for the defaults)."""

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    tls: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    api_key: str | None = None

    @classmethod
    def from_env(cls, **given: Any) -> "Connection":
        """Settings from ``given`` (``None`` values skipped), else
        ``RAGC_TEMPORAL_*`` variables, else the defaults."""
        env = os.environ.get

        def pick(name: str, var: str, default: Any) -> Any:
            v = given.get(name)
            return v if v not in (None, "") else env(var, default)

        tls = given.get("tls") or env("RAGC_TEMPORAL_TLS", "") in ("1", "true", "yes")
        return cls(address=pick("address", "RAGC_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
                   namespace=pick("namespace", "RAGC_TEMPORAL_NAMESPACE", "default"),
                   task_queue=pick("task_queue", "RAGC_TEMPORAL_TASK_QUEUE", DEFAULT_TASK_QUEUE),
                   tls=bool(tls), tls_cert=pick("tls_cert", "RAGC_TEMPORAL_TLS_CERT", None),
                   tls_key=pick("tls_key", "RAGC_TEMPORAL_TLS_KEY", None),
                   tls_ca=pick("tls_ca", "RAGC_TEMPORAL_TLS_CA", None),
                   api_key=env("RAGC_TEMPORAL_API_KEY") or None)


async def connect(conn: Connection) -> Any:
    """A connected ``temporalio.client.Client``.

    Raises:
        RunError: ``E0932`` (no temporalio), ``E0930`` (unreachable), or
            ``E0909`` (a TLS file that cannot be read).
    """
    require_temporalio()
    from temporalio.client import Client, TLSConfig

    tls: Any = False
    if conn.tls or conn.api_key or conn.tls_cert:
        try:
            read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
            tls = TLSConfig(client_cert=read(conn.tls_cert), client_private_key=read(conn.tls_key),
                            server_root_ca_cert=read(conn.tls_ca))
        except OSError as e:
            raise RunError("E0909", f"cannot read a TLS file: {e}", kind="config") from None
    try:
        return await Client.connect(conn.address, namespace=conn.namespace, tls=tls, api_key=conn.api_key)
    except Exception as e:  # noqa: BLE001 - any connection failure is E0930
        raise RunError("E0930", f"cannot reach the Temporal server at {conn.address} "
                                f"(namespace {conn.namespace}): {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                       kind="config",
                       hint="start one with `ragc dev-server`, or set --temporal-address / RAGC_TEMPORAL_ADDRESS") from None


async def has_worker(client: Any, task_queue: str, wait_s: float = 3.0) -> bool:
    """Whether any worker polled ``task_queue`` recently (workflow tasks),
    waiting up to ``wait_s`` seconds for a worker that is just starting."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    loop = asyncio.get_running_loop()
    end = loop.time() + wait_s
    while True:
        resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        if resp.pollers:
            return True
        if loop.time() >= end:
            return False
        await asyncio.sleep(0.1)


def build_request(engine: Any, inputs: dict[str, Any], run_id: str, *,
                  history_limit: int | None = None) -> dict[str, Any]:
    """The workflow input for ``engine`` (a :class:`~ragc.runtime.engine.Engine`)
    and validated ``inputs`` (``history_limit``: see
    :func:`~ragc.temporal.payloads.run_request`)."""
    from ragc.temporal.payloads import run_request, scope_dict

    return run_request(ir_json=engine.ir_json, ir_hash=engine.program.hash, inputs=inputs, run_id=run_id,
                       caps=engine.caps.model_dump(mode="json"),
                       policy_budgets=[scope_dict(s) for s in engine.policy_scopes],
                       registry=engine.registry_path, workspace=engine.workspace, source=engine.source,
                       untrusted=engine.untrusted, history_limit=history_limit)


async def start(client: Any, engine: Any, inputs: Any, *, run_id: str, task_queue: str = DEFAULT_TASK_QUEUE,
                require_worker: bool = True, history_limit: int | None = None) -> Any:
    """Validate ``inputs`` and start the run; returns its workflow handle.
    ``history_limit``: history events after which the run continues as new
    (``None``: when the server suggests it; :mod:`ragc.temporal.continuation`).

    Raises:
        RunError: ``E0912`` (input), ``E0931`` (no worker polls the queue),
            ``E0915`` (the run id exists).
    """
    from temporalio.exceptions import WorkflowAlreadyStartedError

    validated = engine.validate(inputs)
    if require_worker and not await has_worker(client, task_queue):
        raise RunError("E0931", f"no worker polls the task queue `{task_queue}`", kind="config",
                       hint=f"start one: `ragc worker --task-queue {task_queue}` (with the same address and namespace)")
    try:
        req = build_request(engine, validated, run_id, history_limit=history_limit)
        return await client.start_workflow(WORKFLOW_NAME, req, id=run_id, task_queue=task_queue)
    except WorkflowAlreadyStartedError:
        raise RunError("E0915", f"a run with id {run_id} already exists on the server", kind="input") from None


async def status(client: Any, run_id: str) -> dict[str, Any]:
    """The run's ``status`` query (its result once closed).

    Raises:
        RunError: ``E0933`` (no such run).
    """
    handle = client.get_workflow_handle(run_id)
    try:
        desc = await handle.describe()
    except Exception as e:  # noqa: BLE001 - RPCError NOT_FOUND and friends
        raise _not_found(run_id, e) from None
    name = desc.status.name if desc.status is not None else "RUNNING"
    if name == "COMPLETED":
        return {**(await handle.result()), "interrupt": None, "closed": True}
    if name != "RUNNING":
        return {"status": "failed" if name != "CANCELED" else "cancelled", "run_id": run_id, "state": {},
                "usage": {}, "output": None, "interrupt": None, "closed": True,
                "error": {"code": "E0909", "message": f"the workflow is {name.lower()} on the server",
                          "kind": "internal"}}
    return {**(await handle.query("status")), "run_id": run_id, "closed": False}


async def wait(client: Any, run_id: str, *, stop_on_interrupt: bool = True,
               on_progress: Any = None) -> dict[str, Any]:
    """Wait until the run ends (or, with ``stop_on_interrupt``, asks a
    question); returns the result or status dict (``status`` is
    ``interrupted`` while a question waits)."""
    handle = client.get_workflow_handle(run_id)
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait([result], timeout=POLL_S)
            if done:
                try:
                    return {**result.result(), "interrupt": None}
                except Exception as e:  # noqa: BLE001 - a failed/terminated workflow
                    return {"status": "failed", "run_id": run_id, "output": None, "state": {}, "usage": {},
                            "interrupt": None, "error": {"code": "E0909", "kind": "internal",
                                                          "message": f"the workflow failed: {e}"}}
            if stop_on_interrupt or on_progress is not None:
                try:
                    st = await handle.query("status")
                except Exception:  # noqa: BLE001 - not started on a worker yet
                    continue
                if on_progress is not None:
                    on_progress(st)
                if stop_on_interrupt and st.get("status") == "interrupted":
                    return {**st, "run_id": run_id}
    finally:
        if not result.done():
            result.cancel()


async def answer(client: Any, run_id: str, value: Any, activation: str | None = None) -> str:
    """Answer the run's pending interrupt (the ``answer`` update).

    Raises:
        RunError: ``E0911`` (not an option, or nothing to answer; the
            message lists the options), ``E0933`` (no such run).
    """
    from temporalio.client import WorkflowUpdateFailedError

    handle = client.get_workflow_handle(run_id)
    try:
        return await handle.execute_update("answer", {"answer": value, "activation": activation})
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        msg = getattr(cause, "message", None) or str(cause or e)
        msg = msg.removeprefix("E0911: ")
        opts = msg.split("the options: ", 1)
        raise RunError("E0911", msg, kind="input",
                       hint=(f"answer with one of: {opts[1]}" if len(opts) == 2 else
                             f"`ragc runs show {run_id} --engine temporal` shows what the run waits for")) from None
    except RunError:
        raise
    except Exception as e:  # noqa: BLE001
        raise _not_found(run_id, e) from None


async def list_runs(client: Any, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent ragc runs on the server (newest first):
    ``{"id", "status", "started", "closed", "task_queue"}``. The child
    workflows of subgraphs (:mod:`ragc.temporal.children`) are not runs:
    they are left out."""
    out = []
    async for wf in client.list_workflows(f"WorkflowType = '{WORKFLOW_NAME}'"):
        if wf.parent_id:
            continue
        out.append({"id": wf.id, "status": wf.status.name.lower() if wf.status else "running",
                    "started": wf.start_time.timestamp() if wf.start_time else None,
                    "closed": wf.close_time.timestamp() if wf.close_time else None, "task_queue": wf.task_queue})
        if len(out) >= limit:
            break
    return out


async def history(client: Any, run_id: str) -> list[dict[str, Any]]:
    """The run's history without the workflow-task bookkeeping, oldest first:
    ``{"id", "time" (epoch seconds), "type" ("activity_task_completed",
    "timer_started", "workflow_execution_update_accepted"...), "activation"
    (activity events: the node's activation id), "attempt" (started)}``.

    Raises:
        RunError: ``E0933`` (no such run).
    """
    from temporalio.api.enums.v1 import EventType

    handle = client.get_workflow_handle(run_id)
    out: list[dict[str, Any]] = []
    scheduled: dict[int, str] = {}
    try:
        async for ev in handle.fetch_history_events():
            name = EventType.Name(ev.event_type).removeprefix("EVENT_TYPE_").lower()
            if name.startswith("workflow_task_"):
                continue
            row: dict[str, Any] = {"id": ev.event_id, "time": ev.event_time.ToMicroseconds() / 1e6, "type": name}
            which = ev.WhichOneof("attributes")
            attrs = getattr(ev, which) if which else None
            if name == "activity_task_scheduled":
                scheduled[ev.event_id] = row["activation"] = attrs.activity_id
            elif name.startswith("activity_task_") and hasattr(attrs, "scheduled_event_id"):
                row["activation"] = scheduled.get(attrs.scheduled_event_id)
                if name == "activity_task_started":
                    row["attempt"] = attrs.attempt
            elif name == "workflow_execution_update_accepted":
                row["update"] = attrs.accepted_request.input.name
            out.append(row)
    except Exception as e:  # noqa: BLE001 - RPCError NOT_FOUND and friends
        raise _not_found(run_id, e) from None
    return out


def _not_found(run_id: str, e: BaseException) -> RunError:
    return RunError("E0933", f"no run {run_id} on the Temporal server ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                    kind="input", hint="list runs with `ragc runs list --engine temporal`")
