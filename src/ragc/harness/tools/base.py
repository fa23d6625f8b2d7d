"""What a tool is inside the harness (seed 001's tool trait): a name, a
description, a pydantic model of its arguments (from which the JSON schema
the model sees is derived, and against which arguments are validated before
the call) and an async ``invoke``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from pydantic import BaseModel

from ragc.harness.types import ToolResult, ToolSpec

Invoke = Callable[[BaseModel], Awaitable[ToolResult]]


@dataclass
class Tool:
    """One callable tool.

    Attributes:
        name: the name the model calls it by (the registry name).
        description: one or two sentences for the model.
        args_model: pydantic model of the arguments (validation and schema).
        invoke: ``await invoke(validated_args) -> ToolResult``; raises
            :class:`~ragc.harness.errors.ToolError` for expected failures.
        timeout_s: seconds per call (``None``: no limit).
        kind: ``builtin:NAME`` or ``python:module:function`` (for messages).
    """

    name: str
    description: str
    args_model: type[BaseModel]
    invoke: Invoke
    timeout_s: float | None = 60.0
    kind: str = ""

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema (object) of the arguments, without pydantic's titles."""
        return clean_schema(self.args_model.model_json_schema())

    @property
    def spec(self) -> ToolSpec:
        """The :class:`ToolSpec` the model sees."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the ``title`` keys pydantic adds (they only cost
    prompt tokens), keeping property *names* that happen to be ``title``."""

    def walk(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "title" and not in_properties and isinstance(v, str):
                    continue
                out[k] = walk(v, in_properties=(k in ("properties", "$defs", "definitions")))
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    cleaned = walk(schema)
    cleaned.setdefault("type", "object")
    cleaned.setdefault("properties", {})
    return cleaned
