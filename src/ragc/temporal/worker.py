"""A worker: polls one task queue for ragc workflow and node tasks.

Any number of workers, on any hosts, may poll one task queue; Temporal
hands each workflow task and each node activity to one of them. A worker
that dies is detected by the server (activity heartbeat timeout, sticky
queue timeout) and its work goes to another worker.

``sticky_queue_schedule_to_start_timeout`` is lowered to
:data:`STICKY_TIMEOUT_S` (the SDK's default is 10 s), so a run whose
worker died continues on another worker after about a second.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ragc.temporal import DEFAULT_TASK_QUEUE
from ragc.temporal.activities import NodeActivities
from ragc.temporal.context import WorkerContext
from ragc.temporal.workflow import RagcWorkflow

STICKY_TIMEOUT_S = 1.0
"""Seconds a workflow task waits on a dead worker's sticky queue before it
goes to the shared queue."""

PASSTHROUGH = ("ragc", "pydantic", "pydantic_core", "anyio", "sniffio", "jinja2", "markupsafe", "lark", "httpx",
               "httpcore", "annotated_types", "typing_inspection")
"""Modules the workflow sandbox does not re-import per workflow (ragc's
runtime core is deterministic; the others are libraries it uses)."""


def build_worker(client: Any, ctx: WorkerContext, *, task_queue: str = DEFAULT_TASK_QUEUE,
                 max_concurrent_activities: int = 200, identity: str | None = None) -> Worker:
    """A ``temporalio.worker.Worker`` running ragc runs and node activities.

    Args:
        client: a connected ``temporalio.client.Client``.
        ctx: the registry and caches the activities use.
        task_queue: the queue to poll.
        max_concurrent_activities: node activities run at once on this worker.
        identity: the worker's name in the server's views (default: pid@host).
    """
    acts = NodeActivities(ctx, client)
    runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
    kw: dict[str, Any] = {}
    if identity:
        kw["identity"] = identity
    return Worker(client, task_queue=task_queue, workflows=[RagcWorkflow], activities=[acts.node],
                  workflow_runner=runner, max_concurrent_activities=max_concurrent_activities,
                  sticky_queue_schedule_to_start_timeout=timedelta(seconds=STICKY_TIMEOUT_S),
                  graceful_shutdown_timeout=timedelta(seconds=1), **kw)
