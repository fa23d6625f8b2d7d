"""Turning pydantic validation errors of registry data into wording and
key paths for diagnostics (shared by :mod:`ragc.registry.loader` and
:mod:`ragc.registry.agents_md`)."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from ragc.registry.model import Registry


def model_at(path: tuple) -> type[BaseModel] | None:
    """The pydantic model class that validates the table at ``path``
    (``("models", "x")`` -> ``ModelEntry``); ``None`` for a non-model."""
    cls: Any = Registry
    i = 0
    while i < len(path):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        f = cls.model_fields.get(str(path[i]))
        if f is None:
            return None
        ann = f.annotation
        i += 1
        # unwrap Optional / Annotated / dict[str, X]
        while True:
            origin = typing.get_origin(ann)
            if origin is typing.Annotated:
                ann = typing.get_args(ann)[0]
            elif origin in (typing.Union, types.UnionType):
                members = [a for a in typing.get_args(ann) if a is not type(None)]
                ann = members[0] if len(members) == 1 else next(
                    (a for a in members if isinstance(a, type) and issubclass(a, BaseModel)), members[0])
            elif origin is dict:
                ann = typing.get_args(ann)[1]
                i += 1  # the entry name
            else:
                break
        cls = ann
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def data_path(loc: tuple, data: Any) -> tuple:
    """Keep the parts of a pydantic ``loc`` that address the input data
    (drops validator names such as ``function-before[...]``)."""
    out: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part.isidentifier():
            # a missing key: it addresses the data, which just lacks it
            out.append(part)
            cur = None
    return tuple(out)


_TYPE_WORDS = {
    "int_type": "expected an integer", "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number", "float_parsing": "expected a number",
    "string_type": "expected a string", "bool_type": "expected a boolean",
    "bool_parsing": "expected a boolean", "dict_type": "expected a table",
    "model_type": "expected a table", "model_attributes_type": "expected a table",
    "tuple_type": "expected an array", "list_type": "expected an array",
}


def value_message(err: dict) -> str:
    """A short lowercase wording of one pydantic error dict (``errors()``
    item): ``"expected an integer"``, ``"must be at least 1"``..."""
    t = err["type"]
    ctx = err.get("ctx") or {}
    if t in _TYPE_WORDS:
        return _TYPE_WORDS[t]
    if t == "literal_error":
        return "expected " + str(ctx.get("expected", "one of the allowed values")).replace("'", "`")
    bounds = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
              "greater_than": ("greater than", "gt"), "less_than": ("less than", "lt")}
    if t in bounds:
        word, key = bounds[t]
        return f"must be {word} {ctx.get(key)}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg[0].lower() + msg[1:] if msg else t
