"""``kind tool``: tool calls through the harness.

* One call: ``tool`` with ``args`` (an object expression); effect key
  ``t1``. A failed call (``ToolResult.is_error``) fails the node (kind
  ``tool``: retryable, and taken by an ``error`` route). The result is the
  tool's JSON ``value`` (its text ``content`` when it has none).
* Pending calls (no ``tool``): the tool calls of the last assistant message
  of ``output`` (a messages channel) run in order, effect keys ``t1.1``,
  ``t1.2``...; each result is written back to the channel as a ``tool``
  message (failures included, as error results the model sees). Tools not
  in the node's ``tools`` list (when given) are refused with an error
  result. The result is the list of values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.runtime.activation import NO_WRITE, NodeOutput
from ragc.runtime.expressions import compile_optional
from ragc.runtime.nodes.common import allowed_tools, harness_kwargs, to_message

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram


def build(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    if ir.tool:
        return _single(cn, prog)
    return _pending(cn, prog)


def tool_failure(name: str, content: str, limit: int = 500) -> str:
    """``tool `NAME` failed: why`` from a failed tool result's text, saying
    it once: the harness's own ``NAME failed: `` prefix is dropped, and a
    text that already names the tool (``tool `NAME` timed out ...``) is kept."""
    text = content[:limit]
    if text.startswith(f"tool `{name}` "):
        return text
    if text.startswith(f"{name} failed: "):
        text = text[len(name) + len(" failed: "):]
    return f"tool `{name}` failed: {text}"


def _single(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    name = ir.tool
    args = compile_optional(ir.args)

    async def run_tool(act: "Activation") -> NodeOutput:
        h = act.services.harness()
        arguments = args(act.scope) if args is not None else {}
        if not isinstance(arguments, dict):
            raise cn.error("E0908", f"node `{cn.name}`: `args` must be an object", kind="expression")
        res = await h.call_tool(name, arguments, key="t1", sources=act.services.sources, **harness_kwargs(act))
        if res.is_error:
            raise cn.error("E0909", f"node `{cn.name}`: {tool_failure(name, res.content)}", kind="tool",
                           retryable=True)
        return NodeOutput(res.value if res.value is not None else res.content)

    return run_tool


def _pending(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    channel = ir.output
    allow = allowed_tools(cn, prog, ir.tools) if ir.tools else None

    async def run_pending(act: "Activation") -> NodeOutput:
        if channel is None:
            raise cn.error("E0909", f"node `{cn.name}` has neither `tool` nor an `output` messages channel",
                           kind="config")
        last = None
        for v in reversed(act.frame.values.get(channel) or ()):
            m = to_message(v)
            if m is not None and m.role == "assistant":
                last = m
                break
        if last is None or not last.tool_calls:
            return NodeOutput([], write=NO_WRITE)
        h = act.services.harness()
        kw = harness_kwargs(act)
        out_msgs: list[dict[str, Any]] = []
        values: list[Any] = []
        for i, call in enumerate(last.tool_calls, start=1):
            if allow is not None and call.name not in allow:
                content, value, is_error = f"tool `{call.name}` is not allowed here", None, True
            else:
                res = await h.call_tool(call.name, call.arguments, key=f"t1.{i}", sources=act.services.sources, **kw)
                content, value, is_error = res.content, res.value, res.is_error
            values.append(value if value is not None else content)
            msg = {"id": f"{act.id}.{i}", "role": "tool", "tool_call_id": call.id, "name": call.name,
                   "content": content}
            if is_error:
                msg["is_error"] = True
            out_msgs.append(msg)
        return NodeOutput(values, write=out_msgs)

    return run_pending
