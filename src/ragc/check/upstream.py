"""Precise diagnostics for upstream constructs that have no ragc meaning.

:mod:`ragc.syntax.upstream` rewrites every upstream (TinyAgents) spelling that
has a ragc equivalent before the checker runs; what is left here is what ragc
cannot honour. Each gets its own code saying what is unsupported and why,
instead of the generic "unknown field" or "unknown kind" (``docs/upstream.md``
lists them all):

* ``E0290`` a checkpoint policy other than ``inherit``/``always`` (graph item
  or ``defaults`` key): ragc journals every node completion, always;
* ``E0291`` a graph ``interrupt`` policy other than ``manual``: a ragc
  interrupt always persists the run and stops until answered;
* ``E0292`` ``kind repl_agent`` whose ``script`` is not one plain string
  (the rewrite maps every other ``repl_agent`` to ``kind repl``);
* ``E0293`` reducer arguments other than ``aggregate "NAME"`` and ``barrier N``;
* ``E0294`` a named input mapping (``input "NAME"``, ``send x "NAME"``):
  ragc payloads and inputs are objects written in the file;
* ``E0295`` a ``steering { ... }`` block (upstream rejected it too).
"""

from __future__ import annotations

from ragc.check.context import Ctx
from ragc.diagnostics.model import Applicability, Label, Suggestion
from ragc.syntax import ast as A
from ragc.syntax.upstream import CHECKPOINT_HONOURED, INTERRUPT_HONOURED

UPSTREAM_GRAPH_ITEMS = frozenset({"checkpoint", "interrupt"})
"""Graph items of upstream that :func:`graph_item` reports (after the rewrite
removed the ones ragc honours)."""


def _word(v) -> str:
    if isinstance(v, A.Path) and not v.segments:
        return v.root.name
    if isinstance(v, A.Str):
        return v.value
    return "?"


def checkpoint_policy(ctx: Ctx, key_span, value) -> None:
    """``E0290`` for ``checkpoint X`` that ragc cannot honour."""
    ctx.bag.error("E0290", f"checkpoint policy `{_word(value)}` is not supported", value.span,
                  "ragc cannot honour this policy",
                  help="ragc journals every node completion before its successors start (upstream's "
                       "`always`); remove the setting, or write `checkpoint always` to say so",
                  suggestions=(Suggestion("use `always`", value.span, "always", Applicability.MAYBE_INCORRECT),))


def graph_item(ctx: Ctx, f: A.Field) -> bool:
    """Report an upstream graph item left after the rewrite; ``True`` when
    ``f`` was one (so the caller does not also call it unknown)."""
    key = f.key.name
    if key == "checkpoint":
        if _word(f.value) not in CHECKPOINT_HONOURED:
            checkpoint_policy(ctx, f.key.span, f.value)
        return True
    if key == "interrupt":
        if _word(f.value) not in INTERRUPT_HONOURED:
            ctx.bag.error("E0291", f"interrupt policy `{_word(f.value)}` is not supported", f.value.span,
                          "ragc cannot honour this policy",
                          help="a ragc `interrupt` node always persists the run and stops until "
                               "`ragc resume RUN --answer ...` (upstream's `manual`); to continue without a "
                               "person, give the interrupt node a `timeout` and a `default` answer")
        return True
    return False


def repl_agent(ctx: Ctx, node: A.Node, kind_field: A.Field) -> None:
    """``E0292`` for a ``kind repl_agent`` the rewrite left (its ``script``
    is not one plain string)."""
    script = next((f for f in node.items if isinstance(f, A.Field) and f.key.name == "script"), None)
    ctx.bag.error("E0292", f"`repl_agent` node `{node.name.name}` is not supported as written", kind_field.value.span,
                  "its `script` is not one file name",
                  secondary=(Label(script.value.span, "a `.ragsh` file name (a plain string) goes here"),)
                  if script is not None else (),
                  help='write `kind repl` with `script "FILE.ragsh"` (a `.ragsh` file next to the `.rag` '
                       "file, run as the first cell) and the registry names its cells may call")


def reducer_args(ctx: Ctx, ch: A.Channel) -> None:
    """``E0293`` for reducer arguments the rewrite did not map."""
    if not ch.args:
        return
    span = ch.args[0].span
    if len(ch.args) > 1:
        last = ch.args[-1].span
        span = type(span)(span.file, span.offset, last.end_offset, span.line, span.column, last.end_line,
                          last.end_column)
    help_ = ("ragc reducers take no arguments; `aggregate \"NAME\"` means the custom reducer "
             "NAME (`channel c NAME`) and `barrier N` (one count) an `append` channel; to wait for "
             "branches, write a `join`")
    notes: tuple[str, ...] = ()
    first = ch.args[0]
    if ch.reducer.name == "aggregate" and isinstance(first, A.Str) and first.value.isidentifier() \
            and len(ch.args) > 1:
        # `aggregate "agg" 3`: a named reducer plus parameters, which no ragc reducer takes
        name = first.value
        help_ = (f"ragc reducers take no arguments: register a custom reducer that has these parameters "
                 f"built in (`[reducers.{name}]` in registry.toml) and write `channel {ch.name.name} {name}`")
        notes = ("upstream bound the reducer by its name (`aggregate`) and handed the arguments to its host "
                 "unread, so their meaning is the host's; ragc does not guess it",)
    ctx.bag.error("E0293", f"reducer arguments are not supported (channel `{ch.name.name}`)", span,
                  "arguments to the reducer", help=help_, notes=notes)


def input_mapping(ctx: Ctx, value: A.Str, where: str) -> None:
    """``E0294`` for a named input mapping (a string where ragc wants an object)."""
    ctx.bag.error("E0294", f"named input mappings are not supported ({where})", value.span,
                  "a mapping name",
                  help="ragc has no registry of input mappings: write the input as an object, "
                       'e.g. `{ topic: state.topic }`')


def steering(ctx: Ctx, f: A.Field) -> None:
    """``E0295`` for a ``steering { ... }`` block."""
    ctx.bag.error("E0295", "`steering` is not supported", f.key.span, "declarative steering",
                  help="ragc has no steering policy for child agents (upstream parsed this block and its "
                       "compiler rejected it too); remove the block",
                  suggestions=(Suggestion("remove the block", f.span, "", Applicability.MAYBE_INCORRECT),))
