"""``kind repl`` in the checker, the IR and ``ragc check --untrusted``:
diagnostics with their spans (E0917, E0918, E0919, E0203, E0309, the policy
codes), the lowered :class:`ReplIR`, the capabilities a node's cells count
as, and that the IR of other kinds does not change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragc.compiler import compile_source
from ragc.registry.loader import load_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    load = load_registry(ROOT / "registry.toml", cwd=ROOT)
    assert load.ok, load.diagnostics
    return load.registry


NODE = """\
graph g {{
  start a
  channel answer last
  node a {{
    kind repl
    model "default"
    tools ["search"]
    models ["fast"]
    agents ["reviewer"]
{extra}
    output answer
    routes {{
      ok -> END
      escalate -> END
      error -> END
    }}
  }}
}}
"""


def check(registry, extra: str = "", **kw):
    return compile_source(NODE.format(extra=extra), "g.rag", registry, **kw)


def where(d) -> tuple[str, int, int]:
    return d.code, d.span.line, d.span.column


def test_a_repl_node_checks_clean_and_lowers_to_repl_ir(registry):
    r = check(registry, "    max_turns 5\n    limits { max_calls 7, timeout_s 30s, max_output_bytes 2000 }\n"
                        '    script "setup"')
    assert [d for d in r.diagnostics if d.is_error] == []
    node = r.program.entry_graph.nodes["a"]
    assert node.kind == "repl" and node.model == "default" and node.tools == ["search"]
    assert node.repl.model_dump() == {"models": ["fast"], "agents": ["reviewer"], "graphs": [], "max_turns": 5,
                                      "limits": {"max_calls": 7, "timeout_s": 30.0, "max_output_bytes": 2000},
                                      "script": "setup"}
    assert node.routing.chooser == "outcome" and [x.label for x in node.routing.routes] == ["ok", "escalate", "error"]
    refs = r.program.refs
    assert {"default", "fast"} <= set(refs.models) and "reviewer" in refs.agents and "search" in refs.tools


def test_the_ir_of_other_kinds_has_no_repl_key(registry):
    r = compile_source('graph g {\n  start a\n  node a { kind model prompt "hi" }\n}\n', "g.rag", registry)
    dumped = r.program.model_dump(mode="json")
    assert "repl" not in dumped["graphs"]["g"]["nodes"]["a"]
    assert '"repl"' not in json.dumps(r.program.semantic_dict())


def test_unknown_limit_is_e0917_at_its_name_with_a_suggestion(registry):
    r = check(registry, "    limits { max_cals 7 }")
    [d] = [d for d in r.diagnostics if d.is_error]
    assert where(d) == ("E0917", 10, 14)
    assert "did you mean `max_calls`?" in d.help
    assert d.suggestions[0].replacement == "max_calls"


@pytest.mark.parametrize("value,col", [("0", 24), ("-3", 24), ('"many"', 24), ("1.5", 24)])
def test_a_limit_value_that_is_not_a_positive_integer_is_e0917(registry, value, col):
    r = check(registry, f"    limits {{ max_calls {value} }}")
    errors = [d for d in r.diagnostics if d.is_error]
    assert [where(d) for d in errors] == [("E0917", 10, col)], [d.message for d in errors]


def test_timeout_s_takes_seconds_or_a_duration(registry):
    assert not [d for d in check(registry, "    limits { timeout_s 2.5 }").diagnostics if d.is_error]
    r = check(registry, "    limits { timeout_s 0s }")
    assert [where(d) for d in r.diagnostics if d.is_error] == [("E0917", 10, 24)]


@pytest.mark.parametrize("turns", [0, 101])
def test_max_turns_out_of_range_is_e0918(registry, turns):
    r = check(registry, f"    max_turns {turns}")
    [d] = [d for d in r.diagnostics if d.is_error]
    assert where(d) == ("E0918", 10, 15) and "between 1 and 100" in d.message


def test_a_missing_starlark_interpreter_is_e0919_at_the_kind(registry, monkeypatch):
    import ragc.check.repl as repl_check

    monkeypatch.setattr(repl_check, "starlark_available", lambda: False)
    r = check(registry)
    [d] = [d for d in r.diagnostics if d.is_error]
    assert where(d) == ("E0919", 5, 10) and "ragc[repl]" in d.help


def test_a_field_of_another_kind_is_e0203(registry):
    r = check(registry, "    max_iterations 3")
    [d] = [d for d in r.diagnostics if d.is_error]
    assert where(d) == ("E0203", 10, 5)


def test_an_unknown_model_in_models_is_e0106_at_the_name(registry):
    r = check(registry, "").diagnostics
    assert not [d for d in r if d.is_error]
    r = compile_source(NODE.format(extra="").replace('models ["fast"]', 'models ["fsat"]'), "g.rag", registry)
    [d] = [d for d in r.diagnostics if d.is_error]
    assert where(d) == ("E0106", 8, 13) and "did you mean `fast`?" in d.help


def test_untrusted_counts_what_the_cells_may_call(registry):
    # [policies.untrusted] grants the models default and fast, and no `run_command` nor `openai`
    src = NODE.format(extra="").replace('tools ["search"]', 'tools ["run_command"]') \
        .replace('models ["fast"]', 'models ["openai"]')
    r = compile_source(src, "g.rag", registry, untrusted=True)
    errors = {(d.code, d.span.line) for d in r.diagnostics if d.is_error}
    assert any(line == 7 for _, line in errors), errors  # the tool, in `tools`
    assert any(line == 8 for _, line in errors), errors  # the model, in `models`
    assert all(code.startswith("E06") for code, _ in errors), errors


def test_a_condition_on_a_repl_route_is_e0309(registry):
    src = NODE.format(extra="").replace("escalate -> END", "escalate -> END when input.x")
    r = compile_source(src, "g.rag", registry)
    assert "E0309" in {d.code for d in r.diagnostics if d.is_error}


def test_upstream_repl_agent_is_kind_repl(registry):
    from ragc.syntax.formatter import format_source

    up = 'graph g {\n  start r\n  node r {\n    kind repl_agent\n    script "triage"\n    next END\n  }\n}\n'
    r = compile_source(up, "g.rag", registry)
    assert r.ok, [d.message for d in r.diagnostics]
    assert r.program.entry_graph.nodes["r"].repl.script == "triage"
    formatted = format_source(up, "g.rag")
    assert "kind repl\n" in formatted.text and 'script "triage"' in formatted.text
    assert compile_source(formatted.text, "g.rag", registry).program.hash == r.program.hash


def test_the_language_server_knows_the_kind_and_its_fields(registry):
    from ragc.lsp.analysis import Analysis, RegistryInfo

    text = NODE.format(extra="    max_turns 5")
    a = Analysis(text, "g.rag", RegistryInfo(registry, None))
    hover, span = a.hover(text.index("repl"))
    assert "node kind `repl`" in hover and "`max_turns`" in hover and "`limits`" in hover
    assert (span.line, span.column) == (5, 10)
    assert ("repl", "kind") in {(label, cat) for label, cat, _ in a.completions(text.index("kind repl") + 5)}
    models_at = text.index('models ["fast"]') + len("models [")
    labels = {label for label, _, _ in a.completions(models_at)}
    assert {"default", "fast"} <= labels and "search" not in labels


def test_granted_graphs_are_compiled_into_the_program(tmp_path):
    (tmp_path / "registry.toml").write_text(
        '[models.default]\nprovider = "scripted"\nscript = "m.jsonl"\n\n'
        '[graphs.greet]\npath = "greet.rag"\n', encoding="utf-8")
    (tmp_path / "greet.rag").write_text(
        'graph greet {\n  input { name: string }\n  start a\n  node a { kind model prompt "hi {{ input.name }}" }\n}\n',
        encoding="utf-8")
    reg = load_registry(tmp_path / "registry.toml", cwd=tmp_path).registry
    src = 'graph g {\n  start a\n  node a {\n    kind repl\n    graphs ["greet"]\n  }\n}\n'
    r = compile_source(src, "g.rag", reg)
    assert r.ok, [d.message for d in r.diagnostics]
    assert "registry.greet" in r.program.graphs and r.program.refs.graphs == ["greet"]
    assert r.program.entry_graph.nodes["a"].repl.graphs == ["greet"]
    r = compile_source(src.replace('"greet"', '"gret"'), "g.rag", reg)
    [d] = [d for d in r.diagnostics if d.is_error]
    assert where(d) == ("E0109", 5, 13) and "did you mean `greet`?" in d.help
