"""``kind function``: a custom node implemented in Python.

The function is an API ``functions=`` entry or a registry
``[functions.NAME]`` (see :mod:`ragc.runtime.functions` for the calling
conventions). Its input is the node's evaluated ``input`` mapping (the run
input when there is none); its state argument is a read-only view of the
frame's channels (values must not be mutated). A :class:`NodeResult`
return picks a route label and/or writes extra channels.

With the prep/exec/post lifecycle, only ``exec`` is retried and timed out
(``retry``, ``timeout``); ``prep`` and ``post`` run once.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ragc.runtime.activation import NodeOutput
from ragc.runtime.expressions import compile_optional
from ragc.runtime.functions import NodeResult, maybe_await
from ragc.runtime.limits import run_attempts

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram


def _output(value: Any) -> NodeOutput:
    if type(value) is NodeResult:
        return NodeOutput(value.value, value.route, extra=list(value.update.items()) if value.update else None)
    return NodeOutput(value)


def build(cn: "CNode", prog: "CProgram") -> Any:
    fname = cn.ir.function or cn.name
    nc = prog.functions.node_function(fname)
    mapping = compile_optional(cn.ir.input)

    if not nc.lifecycle:
        call = nc.call
        wants_state = nc.wants_state
        if nc.is_async:
            async def run_async_function(act: "Activation") -> NodeOutput:
                frame = act.frame
                inp = mapping(act.scope) if mapping is not None else frame.input
                return _output(await call(inp, MappingProxyType(frame.values) if wants_state else None))

            return run_async_function

        async def run_function(act: "Activation") -> NodeOutput:
            frame = act.frame
            inp = mapping(act.scope) if mapping is not None else frame.input
            value = call(inp, MappingProxyType(frame.values) if wants_state else None)
            if hasattr(value, "__await__"):
                value = await value
            return _output(value)

        return run_function

    prep, exe, post = nc.prep, nc.exec, nc.post

    async def run_lifecycle(act: "Activation") -> NodeOutput:
        frame = act.frame
        services = act.services
        inp = mapping(act.scope) if mapping is not None else frame.input
        state = services.state_view(frame)
        p = await maybe_await(prep(state, inp)) if prep is not None else inp

        async def body(_act: "Activation") -> Any:
            return await maybe_await(exe(p))

        e = await run_attempts(act, body, retry=act.node.retry, timeout_s=services.timeout_for(act.node))
        r = await maybe_await(post(state, p, e)) if post is not None else e
        return _output(r)

    # only `exec` is retried (and timed): prep and post run once
    run_lifecycle.retries_itself = True  # type: ignore[attr-defined]
    return run_lifecycle
