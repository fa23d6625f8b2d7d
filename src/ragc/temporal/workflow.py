"""The Temporal workflow of a ragc run.

Input: :func:`ragc.temporal.payloads.run_request` (the serialized IR, the
validated inputs, the run id, the effective limits). The workflow compiles
the IR (no registry: every registry name is resolved on the worker, in the
activities) and runs it with :class:`~ragc.temporal.interpreter.TemporalRun`.

* update ``answer`` (``{"answer": value, "activation": id or None}``):
  answers the pending interrupt; its validator refuses an answer that is
  not one of the options (``E0911``, the options listed) or a run that is
  not waiting, before anything is written to history;
* query ``status``: ``{"status": "running"|"interrupted"|"completed"|
  "failed", "interrupt": pending question or None, "state", "usage",
  "steps", "activities"}``;
* result: ``{"status", "run_id", "output", "state", "usage", "error",
  "result"}`` (``error`` as ``RunError.to_dict``).

A long run continues as new (:mod:`ragc.temporal.continuation`): the next
run's input is this one plus ``resume``, the snapshot it goes on from.

A child workflow (the input has ``child``: a subgraph or a detached node
of a parent run, :mod:`ragc.temporal.children`) runs that part only and
returns :func:`~ragc.temporal.children.child_result`.

Sandbox: ragc's runtime modules are imported passed through (they are
deterministic: the core does no I/O and reads no clock; see
``docs/architecture.md``), so the sandbox does not re-import them for
every workflow.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ragc.ir.model import LimitsIR, ProgramIR
    from ragc.registry.model import Registry
    from ragc.runtime.budget import BudgetScope
    from ragc.runtime.functions import FunctionTable
    from ragc.runtime.inputs import MAX_REPORTED_PROBLEMS, output_problems
    from ragc.runtime.program import compile_program
    from ragc.runtime.errors import RunError
    from ragc.temporal import WORKFLOW_NAME
    from ragc.temporal.continuation import ContinueAsNew, HistoryGauge
    from ragc.temporal.interpreter import TemporalRun


@workflow.defn(name=WORKFLOW_NAME)
class RagcWorkflow:
    """One ragc run (see module docs)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.run: TemporalRun | None = None
        self.final: dict[str, Any] | None = None

    @workflow.run
    async def execute(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run the program (or, for a child, its part) to its end; returns
        the result dict (module docs)."""
        ir = ProgramIR.model_validate_json(req["ir"])
        empty = Registry()
        try:
            prog = compile_program(ir, empty, FunctionTable(empty, lenient=True))
        except RunError as e:  # an expression that does not compile: the run fails, with its span
            self.final = {"status": "failed", "run_id": req["run_id"], "output": None, "state": {}, "usage": {},
                          "error": e.to_dict(), "result": None}
            return self.final
        caps = LimitsIR.model_validate(req["caps"])
        scopes = tuple(BudgetScope(**s) for s in req.get("policy_budgets") or ())
        run = self.run = TemporalRun(prog, run_id=req["run_id"], input=req["inputs"], caps=caps,
                                     policy_scopes=scopes, request=req, execute_activity=workflow.execute_activity,
                                     execute_local_activity=workflow.execute_local_activity,
                                     execute_child_workflow=workflow.execute_child_workflow,
                                     wait_condition=workflow.wait_condition, answers=self.answers,
                                     continue_as_new=HistoryGauge(workflow.info, req.get("history_limit")))
        child = req.get("child")
        try:
            if child is not None:  # a subgraph or detached node of a parent workflow (ragc.temporal.children)
                self.final = await run.execute_child(child)
                return self.final
            outcome = await run.execute()
        except ContinueAsNew as c:  # a long history: go on in a new run (ragc.temporal.continuation)
            workflow.continue_as_new({**req, "resume": c.snapshot})
        entry = prog.entry
        status, state, err = outcome.status, outcome.values, outcome.error
        output = None
        if status == "completed":
            output = {ch: state.get(ch) for ch in entry.output} if entry.output is not None else dict(state)
            problems = output_problems(entry.ir.output_schema, output)
            if problems:
                shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
                err = RunError("E0916", f"the run's output does not match graph `{entry.name}`'s output block: "
                               + shown, kind="output",
                               hint="every `output` channel must hold a value of its declared type when the "
                                    "run ends (mark a field `T?` if it may stay empty)")
                status, output = "failed", None
        self.final = {"status": status, "run_id": req["run_id"], "output": output, "state": state,
                      "usage": outcome.usage, "error": err.to_dict() if err is not None else None,
                      "result": outcome.result}
        return self.final

    @workflow.query(name="status")
    def status(self) -> dict[str, Any]:
        """The run's status, pending question, state and usage (module docs)."""
        if self.final is not None:
            return {**self.final, "interrupt": None, "activities": self.run.activities if self.run else 0}
        run = self.run
        if run is None:
            return {"status": "running", "interrupt": None, "state": {}, "usage": {}, "steps": 0, "activities": 0}
        pending = next(iter(run.pending.values()), None)
        root = getattr(run, "root", None)
        return {"status": "interrupted" if pending is not None else "running", "interrupt": pending,
                "state": dict(root.values) if root is not None else {}, "usage": run.usage(),
                "steps": run.steps, "activities": run.activities}

    @workflow.update(name="answer")
    async def answer(self, data: dict[str, Any]) -> str:
        """Answer the pending interrupt; returns its activation id."""
        act = self._target(data)
        self.answers[act] = data.get("answer")
        return act

    @answer.validator
    def check_answer(self, data: dict[str, Any]) -> None:
        """Refuse an answer that is not one of the options, or a run that
        does not wait for one (``ValueError`` with the E0911 message)."""
        act = self._target(data)
        pending = self.run.pending[act]  # type: ignore[union-attr]
        options = pending.get("options") or []
        if options and data.get("answer") not in options:
            raise ValueError(f"E0911: `{data.get('answer')}` is not an option of `{pending['node']}`; "
                             f"the options: {', '.join(map(str, options))}")

    def _target(self, data: dict[str, Any]) -> str:
        run = self.run
        pending = run.pending if run is not None else {}
        act = data.get("activation")
        if act:
            if act not in pending:
                raise ValueError(f"E0911: no question `{act}` is waiting for an answer")
            return act
        if not pending:
            raise ValueError("E0911: the run is not waiting for an answer")
        return next(iter(pending))
