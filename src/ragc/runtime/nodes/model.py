"""``kind model``: one model call.

* The request: the ``system`` prompt (if any) and one user message -- the
  rendered ``prompt``, or the run input as ``key: value`` lines.
* Split tool loop (the node has ``tools`` and its ``output`` is a messages
  channel): the conversation is that channel; the node's ``prompt`` is
  posted (and written to the channel) on its first visit in the frame only;
  the reply (with its tool calls) is written to the channel; the route is
  ``tool_call`` when the reply has tool calls, else ``final``.
* ``schema`` (``output_schema``): structured output; the result is the
  parsed object.
* Routes chosen by the model: the request's schema is ``{"route": <one of
  the labels>}`` (merged into ``schema`` if both are given); the result is
  the label (or the object when ``schema`` is given too).

The call's effect key is ``m1`` (scoped to the activation and attempt).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ragc.harness.types import Message, ModelRequest
from ragc.runtime.activation import NodeOutput
from ragc.runtime.expressions import compile_optional
from ragc.runtime.nodes.common import (
    allowed_tools,
    harness_kwargs,
    history,
    input_lines,
    message_dict,
    request_params,
    route_schema,
)

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram

LOOP_LABELS = frozenset({"tool_call", "final"})


def parse_structured(cn: "CNode", structured: Any, text: str) -> Any:
    """The structured reply: ``structured`` if the provider parsed it, else
    the reply text parsed as JSON.

    Raises:
        RunError: ``E0909`` (kind ``malformed``, retryable) when neither works.
    """
    if structured is not None:
        return structured
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise cn.error("E0909", f"node `{cn.name}`: the model's reply is not the requested JSON: {text[:200]!r}",
                       kind="malformed", retryable=True) from None


def pick_label(cn: "CNode", obj: Any) -> str:
    """The ``route`` of a structured reply, checked against the node's labels.

    Raises:
        RunError: ``E0903`` (kind ``model``, retryable: a new call may pick a
            declared label).
    """
    label = obj.get("route") if isinstance(obj, dict) else obj if isinstance(obj, str) else None
    if not isinstance(label, str) or label not in cn.route_map:
        raise cn.error("E0903", f"node `{cn.name}`: the model chose the route label `{label}`, which the node "
                                f"does not declare", kind="model", retryable=True,
                       hint="declared labels: " + ", ".join(f"`{x}`" for x in cn.route_map))
    return label


def build(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    model = ir.model or "default"
    system = compile_optional(ir.system)
    prompt = compile_optional(ir.prompt)
    tools = allowed_tools(cn, prog, ir.tools)
    labels = list(cn.route_map) if cn.chooser == "model" else []
    loop_labels = [x for x in labels if x in LOOP_LABELS]
    choice_labels = [x for x in labels if x not in LOOP_LABELS]
    split = bool(tools) and cn.out_messages
    schema = route_schema(choice_labels, ir.output_schema) if choice_labels else ir.output_schema
    wants_object = ir.output_schema is not None
    params = request_params(ir.params)

    async def run_model(act: "Activation") -> NodeOutput:
        h = act.services.harness()
        sc = act.scope
        messages: list[Message] = []
        if system is not None:
            messages.append(Message(role="system", content=str(system(sc))))
        posted: list[dict[str, Any]] = []
        if split:
            messages.extend(history(act.frame.values, cn.output))  # type: ignore[arg-type]
            if act.visit == 1 and prompt is not None:
                user = Message(role="user", content=str(prompt(sc)), id=f"{act.id}.prompt")
                messages.append(user)
                posted.append(message_dict(user))
        else:
            text = str(prompt(sc)) if prompt is not None else input_lines(act.frame.input)
            messages.append(Message(role="user", content=text))
        request = ModelRequest(messages=messages, tools=h.tool_specs(tools) if tools else [],
                               response_schema=schema, **params)
        resp = await h.complete(model, request, key="m1", **harness_kwargs(act))
        msg = resp.message
        label: str | None = None
        result: Any = msg.content
        if msg.tool_calls and (split or loop_labels):
            label = "tool_call" if "tool_call" in cn.route_map else None
        elif schema is not None:
            obj = parse_structured(cn, resp.structured, msg.content)
            if choice_labels:
                label = pick_label(cn, obj)
                result = obj if wants_object else label
            else:
                result = obj
                if loop_labels:
                    label = "final" if "final" in cn.route_map else None
        elif loop_labels:
            label = "final" if "final" in cn.route_map else None
        if split:
            reply = message_dict(msg, name=cn.name, id=act.id)
            return NodeOutput(result, label, write=posted + [reply])
        return NodeOutput(result, label)

    return run_model
