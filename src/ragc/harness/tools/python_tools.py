"""Python functions as tools (``[tools.NAME] python = "package.module:function"``).

The argument schema is derived by pydantic from the function's signature
(type hints, defaults) and its docstring: the first paragraph becomes the
tool description, and Google-style (``Args:`` / ``name (type): text``) or
NumPy-style (``Parameters`` / ``name : type`` + indented text) argument
descriptions become the properties' ``description``. Arguments are validated
against that model before the call (lax pydantic mode, so ``"3"`` is accepted
for an ``int``). Sync functions run in a worker thread, async ones on the
event loop. The return value becomes the result: a string as is, a
:class:`~ragc.harness.types.ToolResult` as is, anything else as JSON.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
import typing
from typing import Any, Callable, Mapping

import anyio
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import to_jsonable_python

from ragc.harness.errors import ConfigError, ToolError
from ragc.harness.tools.base import Tool
from ragc.harness.types import ToolResult

_GOOGLE_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_OTHER_SECTIONS = {"returns", "return", "raises", "yields", "examples", "example", "notes", "note", "see also",
                   "attributes", "warnings", "references"}
_GOOGLE_ARG = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ARG = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(.*))?$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a docstring into (summary, {argument: description}).

    The summary is the first paragraph (lines joined with spaces). Both
    Google and NumPy argument sections are understood; continuation lines are
    joined to the argument's description.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary_lines: list[str] = []
    for line in lines:
        if not line.strip():
            break
        if line.strip().rstrip(":").lower() in _GOOGLE_SECTIONS | _OTHER_SECTIONS:
            break
        summary_lines.append(line.strip())
    summary = " ".join(summary_lines)

    args: dict[str, str] = {}
    i = 0
    while i < len(lines):
        header = lines[i].strip()
        key = header.rstrip(":").lower()
        numpy = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"} and key in _GOOGLE_SECTIONS
        if numpy:
            i += 2
            current: str | None = None
            while i < len(lines):
                line = lines[i]
                if line.strip() and not line.startswith((" ", "\t")):
                    if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
                        break  # next section
                    m = _NUMPY_ARG.match(line.strip())
                    if m:
                        current = m.group(1).lstrip("*")
                        args[current] = ""
                elif line.strip() and current:
                    args[current] = (args[current] + " " + line.strip()).strip()
                i += 1
            continue
        if header.endswith(":") and key in _GOOGLE_SECTIONS:
            base_indent = None
            current = None
            i += 1
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    i += 1
                    continue
                indent = len(line) - len(line.lstrip())
                if indent == 0:
                    break
                if base_indent is None:
                    base_indent = indent
                m = _GOOGLE_ARG.match(line.strip())
                if indent == base_indent and m:
                    current = m.group(1).lstrip("*")
                    args[current] = m.group(3).strip()
                elif current:
                    args[current] = (args[current] + " " + line.strip()).strip()
                i += 1
            continue
        i += 1
    return summary, args


def load_callable(ref: str, functions: Mapping[str, Callable] | None = None, *,
                  base_dir: Any = None) -> Callable:
    """The function named by ``ref``: ``"package.module:function"`` (imported;
    ``function`` may be dotted, e.g. ``Class.method``), or a bare name looked
    up in ``functions`` (callables given to the harness). ``base_dir`` (the
    registry's directory) is put on ``sys.path`` first, as for
    ``[functions.*]`` entries, so a module next to ``registry.toml`` imports.

    Raises:
        ConfigError: the module or attribute cannot be found, or it is not callable.
    """
    if ":" not in ref:
        if functions and ref in functions:
            return functions[ref]
        raise ConfigError(f"python tool `{ref}`: expected \"package.module:function\"",
                          hint="or pass the function to the harness under this name (functions={...})")
    module_name, _, attr = ref.partition(":")
    if base_dir is not None:
        import sys
        from pathlib import Path

        folder = str(Path(base_dir).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"python tool `{ref}`: cannot import `{module_name}`: {exc}",
                          hint="is the module on PYTHONPATH / installed?") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"python tool `{ref}`: `{module_name}` has no attribute `{attr}`") from None
    if not callable(obj):
        raise ConfigError(f"python tool `{ref}`: `{attr}` is not callable")
    return obj


def args_model_for(name: str, fn: Callable, descriptions: Mapping[str, str] | None = None) -> type[BaseModel]:
    """A pydantic model of ``fn``'s parameters (``*args``/``**kwargs`` are
    left out), with ``descriptions`` attached to the fields.

    Raises:
        ConfigError: a type hint pydantic cannot turn into a schema.
    """
    descriptions = descriptions or {}
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = getattr(fn, "__annotations__", {}) or {}
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, Field(default, description=descriptions.get(pname) or None))
    safe = re.sub(r"\W", "_", name) or "tool"
    try:
        model = create_model(f"{safe}_args", __config__=ConfigDict(extra="ignore"), **fields)
        model.model_json_schema()
    except Exception as exc:
        raise ConfigError(f"python tool `{name}`: cannot derive a JSON schema from its signature: {exc}",
                          hint="use JSON-compatible type hints (str, int, float, bool, list, dict, pydantic models)"
                          ) from exc
    return model


def to_result(value: Any) -> ToolResult:
    """A function's return value as a :class:`ToolResult`.

    Raises:
        ToolError: the value cannot be represented as JSON.
    """
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, str):
        return ToolResult(content=value, value=value)
    try:
        jsonable = to_jsonable_python(value)
        text = json.dumps(jsonable, ensure_ascii=False)
    except Exception as exc:
        raise ToolError(f"the tool returned a value that is not JSON: {type(value).__name__} ({exc})") from None
    return ToolResult(content=text, value=jsonable)


def python_tool(name: str, fn: Callable, *, description: str | None = None, timeout_s: float | None = 60.0,
                ref: str = "") -> Tool:
    """Wrap ``fn`` as a :class:`Tool` named ``name``.

    Args:
        name: the name the model calls it by.
        fn: a sync or async function with JSON-compatible parameters.
        description: overrides the docstring summary.
        timeout_s: seconds per call.
        ref: the ``module:function`` reference (for messages).

    Raises:
        ConfigError: see :func:`args_model_for`.
    """
    summary, arg_docs = parse_docstring(inspect.getdoc(fn))
    model = args_model_for(name, fn, arg_docs)
    params = inspect.signature(fn).parameters
    positional_only = [p for p, v in params.items() if v.kind is inspect.Parameter.POSITIONAL_ONLY]
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))

    async def invoke(args: BaseModel) -> ToolResult:
        values = {k: getattr(args, k) for k in model.model_fields}
        pos = [values.pop(k) for k in positional_only]
        try:
            if is_async:
                result = await fn(*pos, **values)
            else:
                result = await anyio.to_thread.run_sync(functools.partial(fn, *pos, **values), abandon_on_cancel=True)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}", kind="exception") from exc
        if inspect.isawaitable(result):
            result = await result
        return to_result(result)

    return Tool(name=name, description=description or summary or f"Python function {ref or name}",
                args_model=model, invoke=invoke, timeout_s=timeout_s, kind=f"python:{ref or name}")
