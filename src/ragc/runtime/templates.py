"""Prompt templates: Jinja2 in an immutable sandbox, compiled once.

Templates are rendered by ``jinja2.sandbox.ImmutableSandboxedEnvironment``
with ``StrictUndefined`` (an unknown name or key is an error, not an empty
string) and without HTML autoescaping. Values are shown by one rule
(architecture.md, "Syntax"):

* a string as is; ``None`` as the empty string; booleans as ``true``/``false``;
* a list of strings as its items separated by blank lines;
* any other list or dict as JSON (UTF-8, not ASCII-escaped);
* numbers with ``str``.

Each distinct template source is compiled once per process
(:func:`compile_template` caches), so rendering costs only the template's
own work. Jinja2 is imported, and the environment built, when the first
template is compiled: a workflow without templates never loads it. Variables: ``input``, ``state``, ``result``, ``payload``, the
``for`` variable of a fan-out branch, and ``error`` in error routes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import jinja2


def _finalize(value: Any) -> Any:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):
        if all(type(v) is str for v in value):
            return "\n\n".join(value)
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


_ENV: list = []  # the environment, made on first use (:func:`_env`)


def _env():
    """The sandboxed environment (imports jinja2 on the first call)."""
    if not _ENV:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            finalize=_finalize,
            keep_trailing_newline=True,
        )
        env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
        _ENV.append(env)
    return _ENV[0]


_CACHE: dict[str, jinja2.Template] = {}


class TemplateError(Exception):
    """A template that does not compile or render; ``str()`` is one line."""


def compile_template(source: str) -> Callable[[dict[str, Any]], str]:
    """Compile ``source`` (cached) and return ``render(context) -> str``.

    Raises:
        TemplateError: a syntax error in the template (at compile time) or an
            undefined variable / sandbox violation (at render time).
    """
    import jinja2

    tpl = _CACHE.get(source)
    if tpl is None:
        try:
            tpl = _env().from_string(source)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"template syntax error (line {e.lineno}): {e.message}") from None
        _CACHE[source] = tpl
    render = tpl.render

    def render_template(context: dict[str, Any]) -> str:
        try:
            return render(context)
        except jinja2.UndefinedError as e:
            raise TemplateError(f"template: {e.message}") from None
        except jinja2.exceptions.SecurityError as e:
            raise TemplateError(f"template: not allowed in the sandbox: {e}") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as e:
            raise TemplateError(f"template: {type(e).__name__}: {e}") from None

    return render_template


def show(value: Any) -> str:
    """Render one value the way a template shows it (for ``key: value``
    lines of prompts built from an input mapping)."""
    out = _finalize(value)
    return out if type(out) is str else str(out)
