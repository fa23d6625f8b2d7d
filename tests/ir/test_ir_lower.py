"""Lowering to IR: the IR of the seed and the shared examples (snapshots),
hash stability, and each lowering rule of docs/architecture.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragc.compiler import compile_source
from ragc.ir.model import ProgramIR

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "fixtures" / "seed_research_review.rag"
SHARED = ROOT / "tests" / "check" / "examples"  # copies of /work/shared/examples
FILES = [SEED] + (sorted(SHARED.glob("*.rag")) if SHARED.is_dir() else [])


def compile_ok(text: str, registry, **kw) -> ProgramIR:
    r = compile_source(text, kw.pop("file", "t.rag"), registry, **kw)
    assert r.diagnostics == [], [(d.code, d.message) for d in r.diagnostics]
    assert r.program is not None
    return r.program


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_ir_of_examples(path, test_registry, snapshot):
    program = compile_ok(path.read_text(), test_registry, file=f"examples/{path.name}")
    assert program.hash == program.compute_hash()
    assert program.model_dump_json(indent=2) == snapshot


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_ir_is_byte_identical_across_compiles(path, test_registry):
    a = compile_ok(path.read_text(), test_registry).model_dump_json()
    b = compile_ok(path.read_text(), test_registry).model_dump_json()
    assert a == b


def _reformat(text: str) -> str:
    """Same meaning, different layout: other indentation, blank lines and comments."""
    out = []
    in_string = False
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if in_string:  # inside a triple-quoted string: shift every line alike
            out.append("      " + line)
        elif stripped:
            out.append("      " + stripped + ("   // trailing note" if stripped.endswith("{") else ""))
        if line.count('"""') % 2 == 1:
            in_string = not in_string
        if not in_string and i % 3 == 0:
            out += ["", "// a comment line"]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_hash_ignores_layout_comments_and_file_name(path, test_registry):
    text = path.read_text()
    a = compile_ok(text, test_registry, file="one.rag")
    b = compile_ok(_reformat(text), test_registry, file="elsewhere/two.rag")
    assert a.hash == b.hash
    assert a.model_dump_json() != b.model_dump_json()  # spans and source differ, the hash does not


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_hash_unchanged_by_ragc_fmt(path, test_registry):
    formatter = pytest.importorskip("ragc.syntax.formatter")
    text = path.read_text()
    formatted = formatter.format_source(text, path.name)
    assert formatted.ok
    assert compile_ok(text, test_registry).hash == compile_ok(formatted.text, test_registry).hash


def test_hash_changes_with_meaning(test_registry):
    text = SEED.read_text()
    a = compile_ok(text, test_registry)
    b = compile_ok(text.replace("blocking true", "blocking false"), test_registry)
    c = compile_ok(text.replace('model "default"', 'model "fast"'), test_registry)
    assert len({a.hash, b.hash, c.hash}) == 3


def test_hash_keeps_user_keys_named_span(test_registry):
    """A key called `span` in user data is meaning, not a source location."""
    text = """graph g {
  start a
  channel cfg last { default: { span: 1 } }
  node a { kind model prompt "x {{ state.cfg }}" send [ b { span: 1 } ] }
  node b { kind model }
}
"""
    a = compile_ok(text, test_registry)
    b = compile_ok(text.replace("default: { span: 1 }", "default: { span: 2 }"), test_registry)
    c = compile_ok(text.replace("b { span: 1 }", "b { span: 2 }"), test_registry)
    assert len({a.hash, b.hash, c.hash}) == 3
    assert "span" not in a.semantic_dict()["graphs"]["g"]  # IR span fields are still left out
    assert a.semantic_dict()["graphs"]["g"]["channels"]["cfg"]["default"] == {"span": 1}


LENIENT = [
    ("kind sub_agent", "kind subagent"),
    ("channel findings topic", "channel findings append"),
    ('agent "final_reviewer"', "agent final_reviewer"),
]


@pytest.mark.parametrize("lenient,canonical", LENIENT)
def test_lenient_spellings_lower_to_the_same_ir(lenient, canonical, test_registry):
    text = SEED.read_text().replace("channel findings append", "channel findings topic")
    assert lenient in text or canonical in text
    a = compile_ok(text.replace(canonical, lenient), test_registry)
    b = compile_ok(text.replace(lenient, canonical), test_registry)
    assert a.hash == b.hash


def test_seed_lowering(test_registry):
    g = compile_ok(SEED.read_text(), test_registry).entry_graph
    sup = g.nodes["supervisor"]
    assert sup.kind == "agent" and sup.model == "default" and sup.max_iterations == 8
    assert sup.output == "messages"  # the graph's only messages channel
    r = sup.routing
    assert r.kind == "fanout" and r.join == "supervisor:join"
    assert [(b.target, b.target_kind, b.output) for b in r.branches] == [
        ("research_agent", "agent", "findings"), ("verifier_agent", "agent", "critiques")]
    j = g.joins["supervisor:join"]
    assert (j.fork, j.target, j.policy, j.sources) == ("supervisor", "review", "all", [])
    review = g.nodes["review"]
    assert review.kind == "subagent" and review.agent == "final_reviewer" and review.routing.kind == "end"
    assert g.channels["errors"].reducer == "append"


def test_three_join_spellings(test_registry):
    text = """
graph g {
  start f
  channel reviews append
  node f { kind model  next [a, b] }
  node a { kind model }
  node b { kind model }
  join [a, b] -> s { policy first  tolerate 1  timeout 2m }
  node s {
    kind model
    send [ reviewer { diff: "x" }, reviewer { diff: "y" } ]
    join k { policy quorum 2 }
  }
  node k { kind model  next [c, d] }
  node c { kind model  next j }
  node d { kind tool  tool "search"  args { query: "x" } }
  node j {
    kind join
    sources [c, d]
    policy all
    routes { ok -> END  error -> END }
  }
}
"""
    g = compile_ok(text, test_registry).entry_graph
    decl = g.joins["join:a+b->s"]
    assert (decl.fork, decl.sources, decl.target, decl.policy, decl.tolerate, decl.timeout_s) == (
        "f", ["a", "b"], "s", "any", 1, 120.0)
    assert g.nodes["f"].routing.model_dump(include={"kind", "targets", "join"}) == {
        "kind": "next", "targets": ["a", "b"], "join": "join:a+b->s"}
    assert g.nodes["a"].routing.kind == "end"
    send = g.joins["s:join"]
    assert (send.fork, send.target, send.policy, send.quorum) == ("s", "k", "quorum", 2)
    node = g.joins["j"]
    assert (node.fork, node.sources, node.target, node.node) == ("k", ["c", "d"], "j", "j")
    assert g.nodes["j"].routing.chooser == "outcome"
    assert g.nodes["j"].output is None  # a join node's counts are not written by default


def test_edges_goto_and_next_end(test_registry):
    text = """
graph g {
  start a
  channel n sum
  node a { kind model  command { goto b  update { n: 1 } } }
  node b { kind model }
  node c { kind model  next END }
  node d { kind model }
  node e { kind model }
  edge b -> c
  b2 -> d
  node b2 { kind model }
  edge c2 -> d
  edge c2 -> e
  node c2 { kind model }
  node z { kind model  next [b2, c2]  max_concurrency 1 }
}
"""
    r = compile_source(text, "t.rag", test_registry)
    g = r.program.entry_graph
    assert g.nodes["a"].routing.model_dump(include={"kind", "targets"}) == {"kind": "next", "targets": ["b"]}
    assert g.nodes["a"].update["n"].value == 1
    assert g.nodes["b"].routing.targets == ["c"]
    assert g.nodes["b2"].routing.targets == ["d"]
    assert g.nodes["c2"].routing.targets == ["d", "e"]
    assert g.nodes["c"].routing.kind == "end"
    assert g.nodes["z"].routing.model_dump(include={"kind", "targets", "max_concurrency"}) == {
        "kind": "next", "targets": ["b2", "c2"], "max_concurrency": 1}


def test_choosers_and_conditions(test_registry):
    text = """
graph g {
  input { n: int  tags: list[string]? }
  start r
  channel answers append
  node r {
    kind router
    routes {
      big -> m when input.n > 3 and not (input.n in [7, 8])
      small -> f
    }
  }
  node f {
    kind router
    function "score"
    routes { hi -> ask  lo -> END }
  }
  node m {
    kind model
    schema { verdict: string  score: float? }
    temperature 0.5
    routes { yes -> ask  no -> END }
  }
  node ask {
    kind interrupt
    question "Go on?"
    timeout 10m
    default "stop"
    output answers
    routes { go -> END  stop -> END }
  }
}
"""
    g = compile_ok(text, test_registry).entry_graph
    r = g.nodes["r"].routing
    assert r.chooser == "condition"
    assert r.routes[0].when.model_dump() == {
        "type": "bool", "op": "and", "operands": [
            {"type": "compare", "op": ">", "left": {"type": "path", "root": "input", "segments": ["n"]},
             "right": {"type": "lit", "value": 3}},
            {"type": "not", "operand": {"type": "compare", "op": "in",
                                        "left": {"type": "path", "root": "input", "segments": ["n"]},
                                        "right": {"type": "list", "items": [{"type": "lit", "value": 7},
                                                                            {"type": "lit", "value": 8}]}}}]}
    assert r.routes[1].when is None
    assert (g.nodes["f"].routing.chooser, g.nodes["f"].routing.function) == ("function", "score")
    m = g.nodes["m"]
    assert m.routing.chooser == "model" and m.params == {"temperature": 0.5}
    assert m.output_schema == {"type": "object", "properties": {"verdict": {"type": "string"},
                                                                "score": {"type": ["number", "null"]}},
                               "required": ["verdict"], "additionalProperties": False}
    ask = g.nodes["ask"]
    assert ask.routing.chooser == "human" and ask.options == ["go", "stop"]
    assert (ask.timeout_s, ask.default) == (600.0, "stop")
    assert ask.prompt.model_dump() == {"type": "lit", "value": "Go on?"}
    assert g.input_schema == {"type": "object", "properties": {
        "n": {"type": "integer"}, "tags": {"type": ["array", "null"], "items": {"type": "string"}}},
        "required": ["n"]}


def test_defaults_fall_back_and_policy_caps(test_registry):
    text = """
graph g {
  defaults {
    timeout 30s
    max_visits 3
    retry { max_attempts 2  backoff fixed  initial 500ms }
    max_concurrency 2
  }
  budget { max_model_calls 20 }
  start a
  node a { kind model  next b }
  node b { kind model  timeout 5s  retry { max_attempts 4 } }
}
"""
    g = compile_ok(text, test_registry).entry_graph
    a, b = g.nodes["a"], g.nodes["b"]
    assert (a.timeout_s, a.max_visits, a.retry.max_attempts, a.retry.backoff, a.retry.initial_s) == (
        30.0, 3, 2, "fixed", 0.5)
    assert (b.timeout_s, b.retry.max_attempts) == (5.0, 4)
    assert g.limits.model_dump() == {"max_steps": 1000, "max_visits": 3, "timeout_s": 30.0, "deadline_s": None,
                                     "max_concurrency": 2, "max_subgraph_depth": 8}
    assert g.budget.model_dump() == {"max_model_calls": 20, "max_tool_calls": None, "max_tokens": None,
                                     "max_cost_usd": 5.0}  # the default policy's cap
    u = compile_ok(text, test_registry, untrusted=True).entry_graph
    assert u.limits.max_steps == 200 and u.limits.max_concurrency == 2
    assert u.budget.model_dump() == {"max_model_calls": 20, "max_tool_calls": None, "max_tokens": None,
                                     "max_cost_usd": 0.5}
    assert u.allow.tools == ["list_files", "read_file", "read_repo", "search"]
    assert u.allow.models == ["default", "fast"]


def test_refs_include_agents_capabilities_and_fallbacks(test_registry):
    text = """
graph g {
  start a
  channel log append
  node a { kind subagent  agent "shell_agent" }
}
"""
    refs = compile_ok(text, test_registry).refs
    assert refs.agents == ["shell_agent"]
    assert refs.models == ["default", "remote"]  # the agent's model and its fallback
    assert refs.tools == ["run_command"]


def test_channels_and_store(test_registry):
    text = """
graph g {
  store "journal"
  start a
  channel log append { max_items: 5 }
  channel best longest { default: "" }
  channel total delta
  node a { kind model  output log  command { update { best: result, total: 1 } } }
}
"""
    g = compile_ok(text, test_registry).entry_graph
    assert g.store == "journal"
    assert g.channels["log"].model_dump(include={"reducer", "max_items"}) == {"reducer": "append", "max_items": 5}
    assert g.channels["best"].model_dump(include={"reducer", "custom", "default"}) == {
        "reducer": "custom", "custom": "longest", "default": ""}
    assert g.channels["total"].reducer == "sum"


def _registry_with_graphs(tmp_path: Path, graphs: dict[str, str], entries: str):
    from ragc.registry.loader import load_registry

    for name, text in graphs.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "registry.toml").write_text('[models.default]\nprovider = "local"\n' + entries)
    load = load_registry(tmp_path / "registry.toml", cwd=tmp_path)
    assert load.ok, load.diagnostics
    return load.registry


def test_registry_subgraphs_are_compiled_in(tmp_path):
    reg = _registry_with_graphs(tmp_path, {
        "lib.rag": "graph summarise {\n  input { text: string }\n  start s\n  node s { kind subgraph graph \"inner\" }\n}\n"
                   "graph inner {\n  start i\n  node i { kind model }\n}\n",
    }, '[graphs.summary]\npath = "lib.rag"\ngraph = "summarise"\n')
    text = 'graph main {\n  start a\n  node a { kind subgraph  graph "summary"  input { text: "x" } }\n}\n'
    p = compile_ok(text, reg)
    assert sorted(p.graphs) == ["main", "registry.summary", "registry.summary/inner"]
    assert p.graphs["main"].nodes["a"].graph == "registry.summary"
    assert p.graphs["registry.summary"].nodes["s"].graph == "registry.summary/inner"
    assert p.refs.graphs == ["summary"]


def test_registry_subgraph_errors_and_recursion(tmp_path):
    reg = _registry_with_graphs(tmp_path, {
        "broken.rag": "graph b {\n  start x\n}\n",
        "ping.rag": 'graph ping {\n  start a\n  node a { kind subgraph  graph "pong" }\n}\n',
        "pong.rag": 'graph pong {\n  start a\n  node a { kind subgraph  graph "ping" }\n}\n',
    }, '[graphs.broken]\npath = "broken.rag"\n[graphs.ping]\npath = "ping.rag"\n[graphs.pong]\npath = "pong.rag"\n')
    r = compile_source('graph m {\n  start a\n  node a { kind subgraph  graph "broken" }\n}\n', "m.rag", reg)
    codes = {(d.code, d.span.file if d.span else None) for d in r.diagnostics}
    assert ("E0810", "m.rag") in codes and any(c == "E0101" and f.endswith("broken.rag") for c, f in codes)
    assert r.program is None and any(f.endswith("broken.rag") for f in r.sources)
    r = compile_source('graph m {\n  start a\n  node a { kind subgraph  graph "ping" }\n}\n', "m.rag", reg)
    assert "E0306" in {d.code for d in r.diagnostics} and r.program is None


def test_entry_graph_choice(test_registry):
    text = "graph a { start x  node x { kind model } }\ngraph b { start y  node y { kind model } }\n"
    assert compile_ok(text, test_registry, file="b.rag").entry == "b"
    assert compile_ok(text, test_registry, file="other.rag").entry == "a"
    assert compile_ok(text, test_registry, graph="b").entry == "b"
    r = compile_source(text, "t.rag", test_registry, graph="c")
    assert [d.code for d in r.diagnostics] == ["E0117"] and r.program is None
    r = compile_source("// nothing here\n", "t.rag", test_registry)
    assert [(d.code, d.message) for d in r.diagnostics] == [("E0117", "`t.rag` has no graph")]


def test_no_program_without_registry_or_with_errors(test_registry):
    assert compile_source(SEED.read_text(), "s.rag", None).program is None
    assert compile_source("graph g {\n}\n", "s.rag", test_registry).program is None
    assert compile_source("graph g {", "s.rag", test_registry).program is None


def test_templates_and_paths_lower_to_expressions(test_registry):
    text = """
graph g {
  input { files: list[string] }
  start a
  channel out append
  node a {
    kind model
    send [ w { path: item, n: len(input.files), first: input.files[0], k: state.out["x"] } for item in input.files ]
  }
  node w { kind model  prompt "Summarise {{ payload.path }}"  output out }
}
"""
    g = compile_ok(text, test_registry).entry_graph
    (b,) = g.nodes["a"].routing.branches
    assert b.foreach.var == "item" and b.foreach.source.model_dump() == {
        "type": "path", "root": "input", "segments": ["files"]}
    f = b.payload.fields
    assert f["path"].model_dump() == {"type": "path", "root": "item", "segments": []}
    assert f["n"].model_dump()["type"] == "call" and f["first"].segments == ["files", 0]
    assert f["k"].segments == ["out", "x"]
    assert g.nodes["w"].prompt.model_dump() == {"type": "template", "source": "Summarise {{ payload.path }}"}
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", compile_ok(text, test_registry).hash)
