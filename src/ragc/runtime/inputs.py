"""Run input: validation against a graph's input schema, defaults, and the
command-line ``KEY=VALUE`` form.

The lowering emits the input schema as a small JSON Schema (``type``,
``properties``, ``required``, ``items``, ``additionalProperties``,
``default``, ``enum``, ``anyOf``; an optional ``T?`` field admits ``null``).
:func:`validate_input` checks a value against that subset, fills defaults,
sets absent optional fields to ``None`` (so ``input.x`` of an optional field
is ``null``, not an error) and rejects unknown fields (a typo in
``--input`` should not be silently ignored).
"""

from __future__ import annotations

import json
from typing import Any

from ragc.runtime.errors import RunError

MAX_REPORTED_PROBLEMS = 10

_PY = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def _type_ok(value: Any, t: str) -> bool:
    if t in ("integer", "number") and isinstance(value, bool):
        return False
    if t == "integer" and isinstance(value, float):
        return value.is_integer()
    kinds = _PY.get(t)
    return True if kinds is None else isinstance(value, kinds)


# A path is built lazily as nested pairs ``(parent, key)`` and formatted only
# when a problem is reported: validating a 10 000-item list must not format
# 10 000 strings (bench: wide_state).
_Path = Any


def _fmt(path: _Path) -> str:
    parts: list[str] = []
    while isinstance(path, tuple):
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return str(path) + "".join(reversed(parts))


def _check(schema: Any, value: Any, path: _Path, problems: list[str]) -> None:
    if not isinstance(schema, dict) or not schema:
        return
    for key in ("anyOf", "oneOf"):
        if key in schema:
            if not any(_ok(s, value) for s in schema[key]):
                problems.append(f"`{_fmt(path)}` does not match any allowed type")
            return
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in types):
            problems.append(f"`{_fmt(path)}` must be {' or '.join(_article(x) for x in types)}, "
                            f"got {_describe(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"`{_fmt(path)}` must be one of {json.dumps(schema['enum'])}")
    items = schema.get("items")
    if items and isinstance(items, dict) and isinstance(value, (list, tuple)):
        only_type = _plain_type(items)
        if only_type is not None:  # e.g. list[dict[any]]: one isinstance per element
            kinds = _PY[only_type]
            if only_type not in ("integer", "number") and all(isinstance(v, kinds) for v in value):
                return
        for i, v in enumerate(value):
            _check(items, v, (path, i), problems)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        extra = extra if extra and isinstance(extra, dict) else None  # `{}` (any) needs no walk
        if props or extra:
            for k, v in value.items():
                sub = props.get(k, extra)
                if sub:
                    _check(sub, v, (path, k), problems)


def _plain_type(schema: dict[str, Any]) -> str | None:
    """The type name when ``schema`` checks nothing but one JSON type (its
    ``additionalProperties``, if any, being ``{}`` = any), else ``None``."""
    t = schema.get("type")
    if not isinstance(t, str) or t not in _PY:
        return None
    for key, sub in schema.items():
        if key not in ("type", "additionalProperties", "description") or (key == "additionalProperties" and sub):
            return None
    return t


def _ok(schema: Any, value: Any) -> bool:
    probs: list[str] = []
    _check(schema, value, "x", probs)
    return not probs


def _article(t: str) -> str:
    return {"integer": "an integer", "object": "an object", "array": "a list", "null": "null"}.get(t, f"a {t}")


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def validate_input(schema: dict[str, Any] | None, value: Any, *, where: str = "the run input") -> dict[str, Any]:
    """Check ``value`` against ``schema``; return it with defaults filled.

    Args:
        schema: a JSON schema of type object (``None``: anything goes).
        value: the input (``None`` counts as ``{}``).
        where: how messages name the input.

    Raises:
        RunError: ``E0912`` listing the first :data:`MAX_REPORTED_PROBLEMS`
            problems (missing required fields, wrong types, unknown fields)
            and how many more there are.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise RunError("E0912", f"{where} must be an object of named values, got {_describe(value)}", kind="input")
    if not schema:
        return dict(value)
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    problems: list[str] = []
    out = dict(value)
    for name, sub in props.items():
        if name in out:
            continue
        if isinstance(sub, dict) and "default" in sub:
            out[name] = json.loads(json.dumps(sub["default"]))
        elif name in required:
            problems.append(f"missing required field `{name}`")
        else:  # optional without default: null
            out[name] = None
    extra = schema.get("additionalProperties", False if props else True)
    for name in value:
        if name not in props and extra is False:
            known = ", ".join(f"`{p}`" for p in props) or "none"
            problems.append(f"unknown field `{name}` (fields: {known})")
    for name, sub in props.items():
        if name in value:
            v = value[name]
            if v is None and name not in required:
                continue
            _check(sub, v, name, problems)
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        raise RunError("E0912", f"{where} is invalid: " + text, kind="input",
                       hint="give inputs with `--input KEY=VALUE` or `--input-file FILE.json`")
    return out


def output_problems(schema: dict[str, Any] | None, output: dict[str, Any]) -> list[str]:
    """Problems of a run's ``output`` against the graph's output schema (a
    JSON schema of type object; ``None``: none). A declared field whose
    channel holds ``null`` is a problem unless the field is optional."""
    if not schema:
        return []
    problems: list[str] = []
    for name, sub in (schema.get("properties") or {}).items():
        _check(sub, output.get(name), name, problems)
    return problems


def parse_cli_inputs(pairs: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict. A value is parsed as JSON when it parses,
    else kept as a string; a field declared ``string`` always keeps the raw
    text (so ``--input n=5`` for a string field is ``"5"``).

    Raises:
        ValueError: an item without ``=``.
    """
    props = (schema or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for item in pairs:
        if "=" not in item:
            raise ValueError(f"`--input {item}` is not KEY=VALUE")
        key, raw = item.split("=", 1)
        key = key.strip()
        t = (props.get(key) or {}).get("type") if isinstance(props.get(key), dict) else None
        is_string = t == "string" or (isinstance(t, list) and "string" in t and len(set(t) - {"null"}) == 1)
        if is_string:
            out[key] = raw
            continue
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out
