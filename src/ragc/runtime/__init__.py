"""The graph runtime: executes a compiled :class:`ragc.ir.model.ProgramIR`.

Modules, in the order data flows through them (semantics in
``docs/runtime.md``):

=================  ==========================================================
``compiled``       load-time preparation: closures, reducers, routing tables
``expressions``    IR expressions -> closures; ``templates``: Jinja2 sandbox
``reducers``       channel reducers; ``frames``: frames and copy-on-write state
``scheduler``      the dataflow scheduler: activations, routing, forks
``joins``          join policies (all / any / quorum, tolerate, timeout)
``nodes/``         one executor per node kind
``limits``         attempts: timeouts, retry with backoff, error mapping
``budget``         budget scopes and the harness's budget guard
``journal``        the store (SQLite with group commit, memory)
``recorder``       journal writes and the event bus of one run
``replay``         the replay index and the exactly-once effect log
``engine``         runs: start, resume, fork, inspect
``inputs``         run input validation; ``irdiff``: change summaries
``functions``      Python functions (custom nodes, routers, reducers)
``errors``         ``RunError`` and the ``E09xx`` codes
=================  ==========================================================

The public entry points are :func:`ragc.load` / :class:`ragc.Workflow`
(:mod:`ragc.api`) and :class:`ragc.runtime.engine.Engine`. The runtime runs
on anyio's asyncio backend (branch tasks are native asyncio tasks; see
:mod:`ragc.runtime.scheduler`).
"""
