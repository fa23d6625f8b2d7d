"""Prompt templates: parsing with Jinja2's sandboxed environment and
finding the ``state.x`` / ``input.x`` references in them.

A string containing ``{{`` or ``{%`` is a template, rendered at run time in
``jinja2.sandbox.ImmutableSandboxedEnvironment`` with ``StrictUndefined``
(``docs/architecture.md``). Here it is only parsed: a syntax error is
``E0708`` at the string; the free variables (``jinja2.meta``) and the
attribute/item accesses on them (``jinja2.nodes.Getattr``/``Getitem``) are
returned so :mod:`ragc.check.expressions` can check them like paths.
Reference: https://jinja.palletsprojects.com/en/3.1.x/api/#the-meta-api
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ragc.check.context import Ctx
from ragc.diagnostics.model import Span
from ragc.syntax import ast as A


@dataclass(frozen=True)
class TemplateRef:
    """A free variable used in a template: ``root`` (``state``), the first
    attribute or string key read from it (``findings``; ``None`` when the
    root is used alone), and its span in the ``.rag`` source (the exact text
    when it can be found in the string, else the whole string)."""

    root: str
    attr: str | None
    span: Span


@functools.cache
def environment():
    """The shared sandboxed environment (imported lazily: checking a file
    without templates does not import Jinja2)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=8192)
def analyse(source: str) -> tuple[tuple[str, int] | None, tuple[tuple[str, str | None], ...]]:
    """Parse one template (memoised: prompts repeat across nodes and files).

    Returns:
        ``(error, refs)``: ``error`` is ``(message, line in the template)``
        when it does not parse, else ``None``; ``refs`` are the free
        variables as ``(root, first attribute or None)`` pairs.
    """
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as e:
        return ((e.message or "invalid syntax"), e.lineno or 1), ()
    free = meta.find_undeclared_variables(tree) - set(env.globals)
    refs: list[tuple[str, str | None]] = []
    with_attr: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node
        if not isinstance(base, nodes.Name) or base.name not in free:
            continue
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            attr = node.arg.value
        else:
            continue
        with_attr.add(base.name)
        refs.append((base.name, attr))
    refs += [(name, None) for name in sorted(free - with_attr)]
    return None, tuple(refs)


def template_refs(ctx: Ctx, s: A.Str) -> list[TemplateRef] | None:
    """The free-variable references of template ``s``; ``None`` (after
    reporting ``E0708``) when it does not parse."""
    error, pairs = analyse(s.value)
    if error is not None:
        message, line = error
        why = message.strip().rstrip(".")
        ctx.bag.error("E0708", f"template syntax error: {why[:1].lower()}{why[1:]}", s.span, "in this template",
                      notes=(f"at line {line} of the template",) if "\n" in s.value else (),
                      help="templates use Jinja2 syntax: `{{ state.name }}`, `{% for x in state.items %}...{% endfor %}`")
        return None
    refs = [TemplateRef(root, attr, _locate(ctx, s, root, attr)) for root, attr in pairs]
    refs.sort(key=lambda r: (r.span.offset, r.root, r.attr or ""))
    return refs


def _locate(ctx: Ctx, s: A.Str, root: str, attr: str | None) -> Span:
    raw = ctx.text(s.span)
    if attr is not None:
        pattern = rf"\b{re.escape(root)}\s*(?:\.\s*{re.escape(attr)}\b|\[\s*['\"]{re.escape(attr)}['\"]\s*\])"
    else:
        pattern = rf"\b{re.escape(root)}\b"
    for block in _BLOCKS.finditer(raw):
        m = re.search(pattern, block.group(0))
        if m is not None:
            start = s.span.offset + block.start() + m.start()
            return ctx.span_at(start, start + (m.end() - m.start()))
    return s.span


_BLOCKS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
