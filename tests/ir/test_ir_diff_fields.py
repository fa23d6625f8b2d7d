"""Every IR field that changes a run shows in ``ragc diff``.

The fields are enumerated from the pydantic models themselves (starting at
:class:`ProgramIR` and following every annotation), so a field added to the
IR later is mutated here too: if the diff does not show it, this test fails.
The only fields left out are the ones that are not meaning (source spans,
the file name, the hash), the keys objects are stored under (renames are an
add plus a remove, tested below) and the expression discriminator ``type``
(it *is* the class).
"""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from ragc.compiler import compile_source
from ragc.ir import model as M
from ragc.ir.diff import diff_programs, render_diff_text

ROOT = Path(__file__).resolve().parents[2]
QUORUM = (ROOT / "workflows" / "quorum_review.rag").read_text()

EXEMPT = {
    ("ProgramIR", "hash"): "derived from the rest",
    ("ProgramIR", "source"): "the file name, not meaning (not hashed)",
    ("GraphIR", "name"): "the key in ProgramIR.graphs",
    ("NodeIR", "name"): "the key in GraphIR.nodes",
    ("ChannelIR", "name"): "the key in GraphIR.channels",
    ("JoinIR", "id"): "the key in GraphIR.joins",
}
EXPR_CLASSES = typing.get_args(typing.get_args(M.Expr)[0])
MARKERS = ("MUT", "4242", "42.5")

BASE_TEXT = """
graph main {
  input { topic: string  files: list[string] }
  output { notes: list[string] }
  start a
  channel notes append
  channel best last
  channel summaries append
  node a { kind model  model "fast"  system "You are {{ input.topic }}"  prompt "Plan {{ input.topic }}"
           output notes  next [b, c] }
  node b { kind tool  tool "search"  args { q: input.topic, n: 3 }  output notes }
  node c { kind subagent  agent "summarizer"  input { path: input.topic }  output notes  optional true }
  join [b, c] -> d { policy quorum 1  tolerate 1  timeout 90s }
  node d {
    kind router
    routes {
      many -> fan when len(state.notes) > 2 and not input.topic == "x"
      few -> ask
    }
  }
  node fan {
    kind model
    model "fast"
    send [ summarizer { path: item } for item in input.files, w { n: 1 }, w { n: 2 } ]
    max_concurrency 3
    join k
  }
  node w { kind model  model "fast"  output notes }
  node k { kind model  output best  next ask }
  node ask { kind interrupt  prompt "Ship it?"  options ["yes", "no"]  timeout 1h  default "no"
             routes { yes -> END  no -> a } }
}
"""


def _compile(text, registry):
    r = compile_source(text, "x.rag", registry)
    assert r.program is not None, [(d.code, d.message) for d in r.diagnostics]
    return r.program


def _enrich(p: M.ProgramIR) -> M.ProgramIR:
    """Set the optional parts the file above leaves unset, so that every IR
    model (and every expression type) is present somewhere in the program."""
    p = p.model_copy(deep=True)
    g = p.graphs["main"]
    g.retry = M.RetryIR(max_attempts=2, on=["timeout"])
    g.budget = M.BudgetIR(max_model_calls=5)
    g.allow = M.AllowIR(tools=["search"], models=["fast"], agents=["summarizer"])
    g.store = "journal"
    g.metadata = {"owner": "team"}
    g.description = "a graph"
    g.output_schema = {"type": "object"}
    a = g.nodes["a"]
    a.retry = M.RetryIR(max_attempts=3)
    a.budget = M.BudgetIR(max_tokens=100)
    a.update = {"best": M.ListExpr(items=[M.PathExpr(root="result", segments=["text", 0]),
                                          M.LitExpr(value=1)])}
    a.params = {"temperature": 0.2}
    a.output_schema = {"type": "object"}
    a.allow_tools = ["search"]
    a.description = "plans"
    a.max_visits = 2
    a.timeout_s = 5.0
    a.max_iterations = 3
    a.tools = ["search"]
    a.graph = "helper"
    a.function = "score"
    a.repl = M.ReplIR(models=["fast"], agents=["summarizer"], max_turns=3, limits={"max_calls": 5},
                      script="setup")
    g.channels["notes"].max_items = 10
    g.channels["notes"].type = {"type": "string"}
    g.channels["best"].default = "none yet"
    g.channels["best"].custom = "longest"
    for b in g.nodes["fan"].routing.branches:
        b.output = b.output or "notes"
    g.joins[next(iter(g.joins))].optional = ["c"]
    g.joins[next(iter(g.joins))].node = "d"
    d = g.nodes["d"].routing
    d.function = "score"
    d.targets = ["fan"]
    d.max_concurrency = 2
    d.join = "j"
    d.branches = list(g.nodes["fan"].routing.branches)
    g.nodes["d"].routing.routes[1].when = M.CompareExpr(op="in", left=M.TemplateExpr(source="{{ input.topic }}"),
                                                        right=M.PathExpr(root="input", segments=["files"]))
    g.nodes["d"].input = M.CallExpr(func="len", args=[M.PathExpr(root="state", segments=["notes"])])
    g.nodes["d"].default = "few"
    g.nodes["d"].options = ["many", "few"]
    g.nodes["d"].blocking = False
    p.refs.stores = ["journal"]
    return p.with_hash()


# --------------------------------------------------------------------------- the fields, from the models


def _model_classes(ann) -> list[type[BaseModel]]:
    out = []
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _model_classes(typing.get_args(ann)[0])
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    for a in typing.get_args(ann) if origin is not None or isinstance(ann, types.UnionType) else ():
        out += _model_classes(a)
    return out


def all_fields() -> set[tuple[str, str]]:
    """Every (model, field) reachable from ProgramIR through annotations,
    except a required sub-model (``routing``, ``limits``...: its own fields
    are the ones mutated), a literal with one possible value (``len``) and
    the fields of a span."""
    seen: set[type] = set()
    todo = [M.ProgramIR]
    out = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, f in cls.model_fields.items():
            ann = f.annotation
            single = typing.get_origin(ann) is typing.Literal and len(typing.get_args(ann)) == 1
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)) and cls is not M.SpanIR and not single:
                out.add((cls.__name__, name))
            todo += _model_classes(ann)
    return out


def _walk(obj, path=()):
    """(path, model) for every IR model in the program, depth first."""
    if isinstance(obj, BaseModel):
        yield path, obj
        for k in type(obj).model_fields:
            yield from _walk(getattr(obj, k), path + (("attr", k),))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, path + (("key", k),))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, path + (("idx", i),))


def _get(obj, path):
    for how, k in path:
        obj = getattr(obj, k) if how == "attr" else obj[k]
    return obj


_NOTHING = object()


def _fits(value, ann) -> bool:
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return value in typing.get_args(ann)
    if origin is typing.Annotated or ann is M.Expr:
        return isinstance(value, EXPR_CLASSES)
    if ann is typing.Any:
        return True
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, origin or ann)


def _mutated(value, ann):
    """A different value of the field's type (with a marker where one fits), or _NOTHING."""
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        others = [a for a in typing.get_args(ann) if a != value]
        return others[0] if others else _NOTHING
    if isinstance(ann, types.UnionType) or origin is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if value is not None and isinstance(value, BaseModel) and type(None) in typing.get_args(ann):
            return None  # an optional part removed
        if all(a in EXPR_CLASSES for a in args):  # an expression (the field is required)
            return M.LitExpr(value="MUT") if value != M.LitExpr(value="MUT") else M.LitExpr(value="MUT2")
        if value is not None:
            inner = next((a for a in args if _fits(value, a)), args[0])
            return _mutated(value, inner)
        for a in args:
            v = _mutated(None, a)
            if v is not _NOTHING:
                return v
        return _NOTHING
    if origin is typing.Annotated or ann is M.Expr:
        return M.LitExpr(value="MUT")
    if ann is bool:
        return not value
    if ann is int:
        return 4242
    if ann is float:
        return 42.5
    if ann is str:
        return (value or "") + "MUT"
    if ann is typing.Any:
        return "MUT" if value != "MUT" else "MUT2"
    if ann is M.ObjectExpr:
        return M.ObjectExpr(fields={**(value.fields if value else {}), "MUT": M.LitExpr(value=1)})
    if origin is list:
        (item,) = typing.get_args(ann)
        if value and isinstance(value[-1], BaseModel):
            return list(value) + [copy.deepcopy(value[-1])]  # one more of the same (the sixth reviewer)
        if value:
            return list(value) + [_mutated(value[-1], item)]
        one = _mutated(None, item)
        return [one] if one is not _NOTHING else _NOTHING
    if origin is dict:
        _, val_t = typing.get_args(ann)
        if value:
            return {**value, "MUT": copy.deepcopy(next(iter(value.values())))}
        one = _mutated(None, val_t)
        return {"MUT": one} if one is not _NOTHING else _NOTHING
    return _NOTHING  # a required part (a model): its own fields are mutated instead


def _mutations(base: M.ProgramIR):
    for path, obj in _walk(base):
        cls = type(obj)
        for name, f in cls.model_fields.items():
            if (cls.__name__, name) in EXEMPT or name == "span" or (cls in EXPR_CLASSES and name == "type"):
                continue
            new = _mutated(getattr(obj, name), f.annotation)
            if new is _NOTHING or new == getattr(obj, name):
                continue
            yield cls.__name__, name, path, new


@pytest.fixture(scope="module")
def base(test_registry):
    return _enrich(_compile(BASE_TEXT, test_registry))


def test_every_ir_field_is_reached_and_shown_by_the_diff(base):
    covered: set[tuple[str, str]] = set()
    missed = []
    for cls_name, name, path, new in _mutations(base):
        mutated = base.model_copy(deep=True)
        setattr(_get(mutated, path), name, new)
        mutated = mutated.with_hash()
        where = ".".join(str(k) for _, k in path + (("attr", name),))
        if mutated.hash == base.hash:
            continue  # not meaning (e.g. an unused default): the hash agrees, nothing to show
        d = diff_programs(base, mutated, old_file="old.rag", new_file="new.rag")
        text = render_diff_text(d)
        body = text.splitlines()[2:]
        shown = [ln for ln in body if ln.lstrip().startswith(("+", "-", "~", "@@"))]
        marker_ok = not any(m in repr(new) for m in MARKERS) or any(m in text for m in MARKERS)
        if not shown or "other" in d or not marker_ok:
            missed.append(f"{cls_name}.{name} at {where}:\n{text}")
            continue
        covered.add((cls_name, name))
    assert not missed, "\n".join(missed[:5])
    expected = {f for f in all_fields() if f not in EXEMPT and f[1] != "span"
                and not (f[1] == "type" and f[0] in {c.__name__ for c in EXPR_CLASSES})}
    assert expected - covered == set(), "IR fields no mutation reached (extend _enrich)"


def test_a_sixth_send_branch_and_a_changed_payload_show(test_registry):
    old = _compile(QUORUM, test_registry)
    sixth = QUORUM.replace('focus: "docs" }', 'focus: "docs" },\n      reviewer { diff: input.diff, focus: "api" }')
    d = diff_programs(old, _compile(sixth, test_registry))
    text = render_diff_text(d)
    assert '  + dispatch -> reviewer [send (agent) {diff: input.diff, focus: "api"} -> reviews]' in text
    assert '        + send reviewer (agent) {diff: input.diff, focus: "api"} -> reviews' in text
    # one payload changed: the old one removed, the new one added
    d = diff_programs(old, _compile(QUORUM.replace('"style"', '"naming"'), test_registry))
    assert [e["edge"] for e in d["edges"]["added"]] == [
        'dispatch -> reviewer [send (agent) {diff: input.diff, focus: "naming"} -> reviews]']
    assert [e["edge"] for e in d["edges"]["removed"]] == [
        'dispatch -> reviewer [send (agent) {diff: input.diff, focus: "style"} -> reviews]']
    # an identical sixth branch (same payload) still counts
    dup = QUORUM.replace('focus: "docs" }', 'focus: "docs" },\n      reviewer { diff: input.diff, focus: "docs" }')
    d = diff_programs(old, _compile(dup, test_registry))
    assert len(d["edges"]["added"]) == 1 and not d["edges"]["removed"]


def test_join_policy_prompt_text_and_limits(test_registry):
    old = _compile(QUORUM, test_registry)
    new_text = (QUORUM.replace("quorum 3", "quorum 4").replace("timeout 2m", "timeout 5m")
                .replace("Decide whether to merge", "Decide carefully whether to merge")
                .replace("max_steps 100", "max_steps 50"))
    d = diff_programs(old, _compile(new_text, test_registry))
    (join,) = d["joins"]["changed"]
    assert join["fields"]["quorum"] == {"old": 3, "new": 4} and join["fields"]["timeout_s"] == {"old": 120.0,
                                                                                                "new": 300.0}
    (prompt,) = d["prompts"]
    assert prompt["node"] == "decide" and "-Decide whether to merge, given these reviews:" in prompt["diff"]
    assert "+Decide carefully whether to merge, given these reviews:" in prompt["diff"]
    assert {"where": "graph quorum_review", "key": "limits.max_steps", "old": 100, "new": 50} in d["budgets"]
    text = render_diff_text(d)
    for line in ("joins:", "      quorum: 3 -> 4", "prompts:", "  ~ decide prompt:",
                 "      +Decide carefully whether to merge, given these reviews:", "budgets and limits:"):
        assert line in text.splitlines(), (line, text)


def test_renamed_node_is_a_remove_and_an_add(test_registry):
    old = _compile(QUORUM, test_registry)
    d = diff_programs(old, _compile(QUORUM.replace("decide", "conclude"), test_registry))
    assert [n["node"] for n in d["nodes"]["added"]] == ["conclude"]
    assert [n["node"] for n in d["nodes"]["removed"]] == ["decide"]


def test_a_hash_difference_never_renders_an_empty_body(base):
    # A change the sections do not describe (here: only the hash, as from an
    # IR written by another version) still says that something changed.
    other = base.model_copy(update={"hash": "sha256:" + "0" * 64})
    d = diff_programs(base, other)
    assert d["other"] and "other:" in render_diff_text(d)
