"""Robustness: the checker, the lowering and the exporters never raise on a
mutated tree. Mutations work on the AST of the seed and the shared examples
(drop an item, rename a name, replace a value, duplicate an item), so the
test exercises the checker whatever the parser's recovery does."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragc.check.checker import check_module
from ragc.diagnostics.model import Span
from ragc.diagnostics.render import render_json, render_text
from ragc.ir.export import to_dot, to_mermaid
from ragc.ir.lower import lower_module
from ragc.syntax import ast as A
from ragc.syntax.parser import parse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCES = [ROOT / "tests" / "fixtures" / "seed_research_review.rag"] + sorted(
    (HERE / "corpus").glob("*.rag"))[:20] + sorted((HERE / "examples").glob("*.rag"))

SP = Span("m.rag", 0, 1, 1, 1, 1, 2)
NAMES = ["a", "b", "review", "END", "supervisor", "state", "input", "item", "errors", "messages", "findings",
         "default", "search", "reviewer", "research_agent", "join", "x" * 40, "ok", "error", "tool_call"]
VALUES = [
    A.Str("x", False, SP), A.Str("{{ state.nope }}", False, SP), A.Str("{% for %}", False, SP),
    A.Int(-1, SP), A.Int(0, SP), A.Int(3, SP), A.Float(2.5, SP), A.Duration(0.0, "0s", SP),
    A.Duration(30.0, "30s", SP), A.Bool(False, SP), A.Bool(True, SP), A.Null(SP),
    A.Path(A.Ident("END", SP), (), SP), A.Path(A.Ident("a", SP), (), SP),
    A.Path(A.Ident("state", SP), (A.Attr("findings", SP),), SP),
    A.Path(A.Ident("input", SP), (A.Index(-1, SP),), SP),
    A.ListV((), SP), A.ListV((A.Path(A.Ident("a", SP), (), SP), A.Int(1, SP)), SP),
    A.ObjectV((), SP), A.ObjectV((A.Pair(A.Ident("goto", SP), A.Path(A.Ident("b", SP), (), SP), False, SP),), SP),
    A.Call(A.Ident("len", SP), (), SP),
]


def _parsed():
    out = []
    for p in SOURCES:
        text = p.read_text(encoding="utf-8")
        r = parse(text, p.name)
        if r.module is not None:
            out.append((r.module, text))
    return out


MODULES = _parsed()


# where the grammar allows any value: (parent type, field name)
VALUE_SLOTS = {(A.Field, "value"), (A.Pair, "value"), (A.ListV, "items"), (A.Compare, "left"),
               (A.Compare, "right"), (A.Route, "when"), (A.ForClause, "source"), (A.SchemaField, "default"),
               (A.Call, "args"), (A.Allow, "value")}


def _nodes(tree) -> list:
    """Every dataclass object of the tree with the slot it is in and whether
    that slot is a tuple: ``(object, (parent type, field name), in_tuple)``."""
    out, stack = [], [(tree, (None, None), False)]
    while stack:
        x, slot, in_tuple = stack.pop()
        if dataclasses.is_dataclass(x) and not isinstance(x, Span):
            out.append((x, slot, in_tuple))
            for f in dataclasses.fields(x):
                v = getattr(x, f.name)
                many = isinstance(v, tuple)
                stack.extend((y, (type(x), f.name), many) for y in (v if many else [v]))
    return out


def _replace(tree, target, new):
    """``tree`` with the object ``target`` (by identity) replaced by ``new``
    (``None`` in a tuple deletes it; a pair ``(target, target)`` duplicates)."""
    if tree is target:
        return new
    if isinstance(tree, tuple):
        out = []
        for x in tree:
            if x is target and new is None:
                continue
            if x is target and isinstance(new, tuple) and new == ("dup",):
                out += [x, x]
                continue
            out.append(_replace(x, target, new))
        return tuple(out)
    if dataclasses.is_dataclass(tree) and not isinstance(tree, Span):
        changes = {}
        for f in dataclasses.fields(tree):
            v = getattr(tree, f.name)
            nv = _replace(v, target, new)
            if nv is not v:
                changes[f.name] = nv
        return dataclasses.replace(tree, **changes) if changes else tree
    return tree


def mutate(module: A.Module, rnd: random.Random) -> A.Module:
    for _ in range(rnd.randint(1, 4)):
        target, slot, in_tuple = rnd.choice(_nodes(module))
        op = rnd.random()
        if isinstance(target, A.Ident):
            module = _replace(module, target, A.Ident(rnd.choice(NAMES), target.span))
        elif slot in VALUE_SLOTS and op < 0.6:
            module = _replace(module, target, rnd.choice(VALUES))
        elif in_tuple and isinstance(target, (A.Node, A.Field, A.Channel, A.Edge, A.JoinDecl, A.Send, A.Routes,
                                              A.Route, A.SendEntry, A.Pair, A.SchemaField, A.Allow, A.JoinRef,
                                              A.Policy)):
            module = _replace(module, target, None if op < 0.6 else ("dup",))
    return module


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1), st.booleans())
def test_mutated_trees_never_raise(seed, untrusted):
    rnd = random.Random(seed)
    module, text = MODULES[rnd.randrange(len(MODULES))]
    module = mutate(module, rnd)
    registry = _registry()
    result = check_module(module, registry, source=text, file="m.rag", untrusted=untrusted)
    render_text(result.diagnostics, {"m.rag": text})
    render_json(result.diagnostics)
    if result.ok and module.graphs:
        program = lower_module(result.info, registry, entry=module.graphs[0].name.name, untrusted=untrusted)
        assert program.hash.startswith("sha256:")
        to_mermaid(program)
        to_dot(program)


_REG = []


def _registry():
    if not _REG:
        from ragc.registry.loader import load_registry

        load = load_registry(HERE / "registry.toml", cwd=HERE)
        _REG.append(load.registry)
    return _REG[0]


def test_mutations_do_break_programs():
    """The mutator is not vacuous: most mutants of clean programs get diagnostics."""
    clean = [(m, t) for m, t in MODULES if check_module(m, _registry(), source=t, file="m.rag").ok]
    broken = 0
    for seed in range(60):
        rnd = random.Random(seed)
        module, text = clean[rnd.randrange(len(clean))]
        broken += bool(check_module(mutate(module, rnd), _registry(), source=text, file="m.rag").diagnostics)
    assert broken >= 30


REGISTRY_CODES = {"E0106", "E0107", "E0108", "E0109", "E0110", "E0111", "E0112", "E0601", "E0602", "E0604"}


def test_without_registry_registry_names_are_not_checked():
    for module, text in MODULES:
        result = check_module(module, None, source=text, file="m.rag")
        assert not {d.code for d in result.diagnostics} & REGISTRY_CODES
