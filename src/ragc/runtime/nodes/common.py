"""Helpers shared by the node executors: prompts, messages, tool lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.harness.types import Message
from ragc.runtime.templates import show

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram

_MESSAGE_FIELDS = frozenset(Message.model_fields)


def input_lines(value: Any) -> str:
    """``key: value`` lines of a mapping (how a node without ``prompt``
    presents its input to a model); other values are shown as they are."""
    if isinstance(value, dict):
        return "\n".join(f"{k}: {show(v)}" for k, v in value.items())
    return show(value)


def to_message(value: Any) -> Message | None:
    """A channel entry as a :class:`Message` (unknown keys dropped;
    entries that are not messages give ``None``)."""
    if isinstance(value, Message):
        return value
    if isinstance(value, dict) and value.get("role") in ("system", "user", "assistant", "tool"):
        data = {k: v for k, v in value.items() if k in _MESSAGE_FIELDS}
        if data.get("content") is None:
            data["content"] = ""
        try:
            return Message.model_validate(data)
        except Exception:  # noqa: BLE001 - a malformed entry is shown as text
            return Message(role=value["role"], content=str(value.get("content", "")))
    return None


def history(values: dict[str, Any], channel: str) -> list[Message]:
    """The messages of a ``messages`` channel, in order."""
    out = []
    for v in values.get(channel) or ():
        m = to_message(v)
        if m is not None:
            out.append(m)
    return out


def message_dict(msg: Message, *, name: str | None = None, id: str | None = None) -> dict[str, Any]:
    """A message as the dict stored in a messages channel."""
    data = msg.model_dump(mode="json", exclude_none=True)
    if name is not None:
        data["name"] = name
    if id is not None:
        data["id"] = id
    if not data.get("tool_calls"):
        data.pop("tool_calls", None)
    if not data.get("is_error"):
        data.pop("is_error", None)
    return data


def allowed_tools(cn: "CNode", prog: "CProgram", tools: list[str]) -> list[str]:
    """``tools`` narrowed by the node's ``allow tools`` and the graph's
    ``allow tools`` (the checker reports violations; this enforces them)."""
    out = list(tools)
    node_allow = cn.ir.allow_tools
    if node_allow is not None:
        out = [t for t in out if t in node_allow]
    graph_allow = cn.graph.ir.allow.tools
    if graph_allow is not None:
        out = [t for t in out if t in graph_allow]
    return out


def route_schema(labels: list[str], base: dict[str, Any] | None) -> dict[str, Any]:
    """The structured-output schema that makes a model pick one of
    ``labels`` (``{"route": <label>}``), merged into ``base`` if given."""
    route = {"type": "string", "enum": list(labels)}
    if base and base.get("type") == "object":
        props = dict(base.get("properties") or {})
        props["route"] = route
        req = list(base.get("required") or [])
        if "route" not in req:
            req.append("route")
        return {**base, "properties": props, "required": req}
    return {"type": "object", "properties": {"route": route}, "required": ["route"], "additionalProperties": False}


def request_params(params: dict[str, Any]) -> dict[str, Any]:
    """Split node ``params`` into ModelRequest keyword arguments."""
    p = dict(params or {})
    kw: dict[str, Any] = {}
    for k in ("temperature", "max_tokens", "stop"):
        if k in p:
            kw[k] = p.pop(k)
    if p:
        kw["params"] = p
    return kw


def harness_kwargs(act: "Activation") -> dict[str, Any]:
    """Keyword arguments of every harness call for this activation."""
    run = act.services
    return {"effects": act.effects, "budget": act.budget, "emit": run.emit, "node": act.node.name,
            "activation": act.id, "run_id": run.run_id}
