"""``kind interrupt``: ask a human and stop the run until an answer comes.

First arrival: the question (the rendered ``prompt``), ``options``,
``default`` and answer ``deadline`` (now + the node's ``timeout``) are
journaled as an ``interrupt`` record, an ``InterruptRaised`` event is
emitted, and the run stops with status ``interrupted``
(:class:`~ragc.runtime.errors.InterruptStop`). ``ragc resume RUN --answer
VALUE`` (or ``Workflow.resume(run_id, answer=...)``) journals an ``answer``
record for that activation and replays the run up to here; the answer
becomes the node's result and, with ``routes``, its route label. Resuming
without an answer after the deadline uses ``default``. The node's
``timeout`` is this answer deadline, not an attempt timeout.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ragc import events as E
from ragc.runtime.activation import NodeOutput
from ragc.runtime.errors import InterruptStop
from ragc.runtime.expressions import compile_optional
from ragc.runtime.records import InterruptAsked

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram


def build(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    prompt = compile_optional(ir.prompt)
    options = list(ir.options)
    default = ir.default
    answer_timeout = ir.timeout_s
    routed = cn.chooser == "human"

    def output(answer: Any) -> NodeOutput:
        return NodeOutput(answer, str(answer) if routed else None)

    async def run_interrupt(act: "Activation") -> NodeOutput:
        run = act.services
        found, answer = run.answer_for(act.id)
        if found:
            return output(answer)
        rec = run.recorded_interrupt(act.id)
        now = time.time()
        if rec is not None and rec.deadline is not None and now >= rec.deadline and default is not None:
            await run.record_answer(act.id, default, "default")
            return output(default)
        if rec is None:
            question = str(prompt(act.scope)) if prompt is not None else f"answer for `{cn.name}`"
            rec = InterruptAsked(act.id, cn.name, question, tuple(options), default,
                                 (now + answer_timeout) if answer_timeout else None, now)
            await run.commit_record(act.id, rec)
        emit = run.emit
        if emit is not None:
            emit(E.InterruptRaised(run.run_id, now, cn.name, act.id, rec.question, rec.options, rec.default,
                                   rec.deadline))
        raise InterruptStop(rec.encode())

    # `timeout` bounds the wait for an answer, not an attempt
    run_interrupt.untimed = True  # type: ignore[attr-defined]
    return run_interrupt
