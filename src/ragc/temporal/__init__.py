"""Running a compiled workflow on Temporal (``ragc run --engine temporal``).

The same IR, interpreted by the same scheduling core as the local engine
(:mod:`ragc.runtime.core`, driven by :class:`ragc.runtime.scheduler.Run`),
inside a Temporal workflow: Temporal's event history is the journal, its
task queues spread node executions over any number of workers, and its
server detects dead workers. ``docs/scale.md`` is the user-facing page.

Modules (bottom up): :mod:`payloads` (what crosses history, its size
limits), :mod:`context` (the worker's registry, engines and harnesses),
:mod:`activities` (node executions with I/O), :mod:`children` (subgraphs
and detached nodes as child workflows), :mod:`interpreter` (the
:class:`~ragc.temporal.interpreter.TemporalRun` driver), :mod:`workflow`
(the workflow definition, its update and query), :mod:`worker`,
:mod:`client`, :mod:`devserver` (``temporal server start-dev``).

Nothing here is imported by ``ragc`` unless a Temporal command runs;
``temporalio`` is the optional extra ``ragc[temporal]`` (``E0932`` when it
is missing).
"""

DEFAULT_TASK_QUEUE = "ragc"
"""The task queue of ``ragc run --engine temporal`` and ``ragc worker``."""

WORKFLOW_NAME = "ragc"
"""The Temporal workflow type every ragc run is started as."""

NODE_ACTIVITY = "ragc.node"
"""The Temporal activity type of a node execution."""
