"""The local provider's tool-turn grammar and reply parsing, without a
model: which texts the GBNF grammar admits (checked by turning the grammar
into a regular expression, :mod:`gbnf_regex`), how recorded raw replies of
Qwen2.5-Coder-0.5B are parsed (``fixtures/qwen05b_turns.json``), the
nudges, the repeat guard and the agent loop's ``tool_plan`` / ``tool_args``
params (through the real harness and a scripted OpenAI-wire server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gbnf_regex import RecursiveGrammar, accepts, to_regex
from hkit import LimitBudget, MemoryEffectLog, make_harness
from servers import openai_wire as ow
from servers.http_server import Reply
from ragc.harness.agent import REPEAT_FAILED_NOTE, narrow_tools, request_fields, tool_plan
from ragc.harness.errors import ConfigError
from ragc.harness.providers.local import (RepeatGuard, SAME_RESULT, _repeated_tools, dedupe_results, nudge,
                                          parse_tool_calls, tool_turns)
from ragc.harness.providers.local_grammar import GrammarError, answer_grammar, tool_turn_grammar
from ragc.harness.types import AgentSpec, Message, ToolCall, ToolSpec

pytest.importorskip("llama_cpp")  # the grammar converter is llama-cpp-python's

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "qwen05b_turns.json").read_text(encoding="utf-8"))
BUILTINS = {"search": "search", "read_repo": "read_file", "read_file": "read_file", "write_file": "write_file",
            "list_files": "list_files", "run_command": "run_command", "signal_completion": "signal_completion"}


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, ToolSpec]:
    """The real tool specs (pydantic-derived schemas) of the built-ins, by registry name."""
    h = make_harness({"m": {"provider": "scripted", "script": "none.jsonl"}},
                     tools={name: {"builtin": b} for name, b in BUILTINS.items()},
                     workspace=tmp_path_factory.mktemp("ws"))
    return {s.name: s for s in h.tool_specs(list(BUILTINS))}


def grammar_for(specs, names, **kw) -> str:
    return tool_turn_grammar([specs[n] for n in names], **kw)


# --------------------------------------------------------------------------- the grammar


def test_grammar_admits_every_recorded_grammar_reply(specs):
    for turn in FIXTURES["turns"]:
        complete = all(args is not None for _, args in turn["calls"])
        if turn["grammar"] and complete:
            assert accepts(grammar_for(specs, turn["tools"]), turn["text"]), turn["id"]


def test_grammar_keeps_the_models_own_call_shapes_but_only_real_tools(specs):
    by_id = {t["id"]: t for t in FIXTURES["turns"]}
    g = grammar_for(specs, ["search", "read_repo"])
    # the fenced call the model writes unprompted is a valid shape when it names a real tool...
    assert accepts(g, by_id["fenced-known-tool"]["text"])
    # ...and every invented name or free-form argument object of the recorded replies is impossible
    for tid in ("fenced-unknown-tool-nested-object", "fenced-unknown-tool-prose-argument"):
        assert not accepts(g, by_id[tid]["text"]), tid
    worker = grammar_for(specs, ["read_file", "write_file", "list_files", "run_command", "signal_completion"])
    for tid in ("bare-task-name-as-tool", "bare-invented-tool", "three-bare-calls"):
        assert not accepts(worker, by_id[tid]["text"]), tid
    assert not accepts(worker, by_id["tagged-cut-at-max-tokens"]["text"])


def test_grammar_arguments_follow_each_tools_schema(specs):
    g = grammar_for(specs, ["search", "read_repo", "list_files", "signal_completion"])
    call = '<tool_call>\n{{"name": "{}", "arguments": {}}}\n</tool_call>'.format
    assert accepts(g, call("search", '{"query": "quorum"}'))
    assert accepts(g, call("search", '{"query": "quorum", "path": "docs", "max_results": 5}'))
    assert not accepts(g, call("search", '{"path": "docs"}')), "query is required"
    assert not accepts(g, call("search", '{"query": ""}')), "minLength 1"
    assert not accepts(g, call("search", '{"query": "q", "max_results": "5"}')), "an integer, not a string"
    assert not accepts(g, call("search", '{"query": "q", "limit": 5}')), "no unknown arguments"
    assert not accepts(g, call("read_repo", '{"query": "q"}')), "the arguments of another tool"
    assert accepts(g, call("list_files", "{}"))
    assert accepts(g, call("signal_completion", '{"signal": "blocked", "reason": "no token"}'))
    assert not accepts(g, call("signal_completion", '{"signal": "done"}')), "an enum"
    assert not accepts(g, call("write_file", '{"path": "a", "content": "b"}')), "not one of this turn's tools"


def test_grammar_answer_cannot_be_a_call_in_disguise(specs):
    g = grammar_for(specs, ["search", "read_repo"])
    assert accepts(g, "In docs/runtime.md, `quorum N` fires at the Nth success; if a < b the rest are cancelled.")
    assert accepts(g, "Use ``ragc run`` and see `joins.py`.\nSecond line.")
    for text in ('{"name": "search", "arguments": {"query": "x"}}x', '[1, 2]', "```json\n{}\n```", " leading space",
                 "\nnewline first", "", "Here it is: <tool_call>\n{}", "Code:\n```python\nx = 1\n```"):
        assert not accepts(g, text), text
    assert accepts(answer_grammar(), "Plain answer.") and not accepts(answer_grammar(), '{"a": 1}')


def test_forced_grammar_and_the_number_of_calls(specs):
    one = '<tool_call>\n{"name": "read_repo", "arguments": {"path": "a.py"}}\n</tool_call>'
    forced = grammar_for(specs, ["read_repo"], answer=False)
    assert accepts(forced, one) and not accepts(forced, "An answer.")
    assert not accepts(forced, one + "\n" + one), "one call a turn by default"
    two = grammar_for(specs, ["read_repo"], answer=False, max_calls=2)
    assert accepts(two, one + "\n" + one) and not accepts(two, "\n".join([one] * 3))
    fenced = ('```json\n{"name": "read_repo", "arguments": {"path": "a.py"}}\n'
              '{"name": "read_repo", "arguments": {"path": "b.py"}}\n```')
    assert accepts(two, fenced) and not accepts(forced, fenced)


def test_narrowed_arguments_reach_the_grammar(specs):
    pattern = "^([A-Za-z0-9_-]{1,40}/){0,8}[A-Za-z0-9_-]{1,60}[.][A-Za-z0-9]{1,8}$"
    narrowed = narrow_tools([specs["search"], specs["read_repo"]],
                            {"tool_args": {"read_repo": {"path": {"pattern": pattern}}}})
    assert narrowed[0] is specs["search"] and narrowed[1].parameters["properties"]["path"]["pattern"] == pattern
    assert "pattern" not in specs["read_repo"].parameters["properties"]["path"], "the tool's own spec is unchanged"
    g = tool_turn_grammar(narrowed)
    call = '{{"name": "read_repo", "arguments": {{"path": "{}"}}}}'.format
    assert accepts(g, call("docs/quickstart.md")) and accepts(g, call("src/ragc/runtime/joins.py"))
    for bad in ("docs/quickstart.md:18: .venv/bin/ragc run", "docs/diagnostics.md/docs/providers.md/runtime.md",
                ".", "docs", "/workspace/hello.txt"):
        assert not accepts(g, call(bad)), bad


def test_tool_names_are_escaped_and_rules_do_not_clash(specs):
    odd = ToolSpec(name="my.tool-v2", description="d", parameters={"type": "object", "properties": {
        "root": {"type": "string"}, "answer": {"type": "integer"}}, "required": ["root"]})
    g = tool_turn_grammar([odd, specs["read_repo"]])
    assert accepts(g, '{"name": "my.tool-v2", "arguments": {"root": "x", "answer": 3}}')
    assert not accepts(g, '{"name": "my-tool-v2", "arguments": {"root": "x"}}')


def test_grammar_errors(specs):
    with pytest.raises(GrammarError):
        tool_turn_grammar([])
    with pytest.raises(GrammarError):
        tool_turn_grammar([specs["read_repo"]], max_calls=0)
    remote = ToolSpec(name="r", description="d", parameters={"$ref": "https://example.com/schema.json"})
    with pytest.raises(GrammarError):
        tool_turn_grammar([remote])


def test_free_form_object_arguments_give_a_recursive_grammar(specs):
    free = ToolSpec(name="f", description="d", parameters={"type": "object"})
    g = tool_turn_grammar([free])
    with pytest.raises(RecursiveGrammar):
        to_regex(g)  # any JSON object: nested values refer back to `value`
    assert "call-0 ::= " in g and "object ::= " in g


# --------------------------------------------------------------------------- parsing recorded replies


def test_parse_recorded_replies():
    for turn in FIXTURES["turns"]:
        content, calls = parse_tool_calls(turn["text"], set(turn["tools"]))
        assert content == turn["content"], turn["id"]
        assert [c.name for c in calls] == [name for name, _ in turn["calls"]], turn["id"]
        for call, (_, args) in zip(calls, turn["calls"]):
            if args is None:
                assert call.raw_arguments is not None, turn["id"]
            else:
                assert call.arguments == args and call.raw_arguments is None, turn["id"]


@pytest.mark.anyio
async def test_unknown_tool_in_text_goes_back_to_the_model(tmp_path):
    (tmp_path / "hello.txt").write_text("hello\n")
    h = make_harness({"m": {"provider": "scripted", "script": "none.jsonl"}},
                     tools={"read_file": {"builtin": "read_file"}}, workspace=tmp_path)
    _, calls = parse_tool_calls('{"name": "task-1", "arguments": {"path": "hello.txt"}}', {"read_file"})
    result = await h.call_tool(calls[0].name, calls[0].arguments, effects=MemoryEffectLog(), key="t1",
                               budget=LimitBudget(), allowed=["read_file"])
    assert result.is_error and "unknown tool `task-1`" in result.content and "read_file" in result.content


# --------------------------------------------------------------------------- nudges, repeats, history


def test_nudges_quote_the_request_and_cite_the_file_read():
    call = ToolCall(id="c1", name="read_repo", arguments={"path": "docs/runtime.md"})
    search = ToolCall(id="c0", name="search", arguments={"query": "q", "path": "."})
    msgs = [Message(role="system", content="s"), Message(role="user", content='How do "joins"   fire?'),
            Message(role="assistant", tool_calls=[search]), Message(role="tool", tool_call_id="c0", content="hits"),
            Message(role="assistant", tool_calls=[call]), Message(role="tool", tool_call_id="c1", content="text")]
    auto = nudge("auto", msgs, finish="signal_completion")
    assert "How do 'joins' fire?" in auto and "call `signal_completion` now" in auto and "In docs" not in auto
    assert 'Start with "In docs/runtime.md, "' in nudge("none", msgs)
    assert "Call `read_repo` now" in nudge("forced", msgs[:4], tool="read_repo")
    failed = msgs[:5] + [Message(role="tool", tool_call_id="c1", content="no such file", is_error=True)]
    assert "Start with" not in nudge("none", failed), "a failed read is not cited"
    assert "Start with" not in nudge("none", msgs[:4]), "a search path is not a file"
    long = [Message(role="user", content="x" * 1000)]
    assert len(nudge("auto", long)) < 700


def test_repeat_guard():
    g = RepeatGuard(min_chars=20)
    text = "Joins fire at the Nth success. The rest are cancelled at once. Joins fire at the Nth success. More."
    cut = None
    for i in range(0, len(text), 7):
        cut = g.feed(text[i:i + 7])
        if cut is not None:
            break
    assert cut is not None and g.text[:cut].rstrip() == "Joins fire at the Nth success. The rest are cancelled at once."
    short = RepeatGuard(min_chars=20)
    assert all(short.feed(p) is None for p in ["- a\n", "- a\n", "- a\n", "ok."])
    code = RepeatGuard(min_chars=5)
    assert all(code.feed(p) is None for p in ['{"content": "same line here\n', 'same line here\n', 'same line here\n'])


def test_identical_results_are_shown_once():
    big = "x" * 300
    msgs = [Message(role="tool", tool_call_id="a", content=big), Message(role="user", content="u"),
            Message(role="tool", tool_call_id="b", content=big),
            Message(role="tool", tool_call_id="c", content="short"),
            Message(role="tool", tool_call_id="d", content="short")]
    out = dedupe_results(msgs)
    assert [m.content for m in out] == [big, "u", SAME_RESULT, "short", "short"]
    assert out[0] is msgs[0] and msgs[2].content == big, "earlier messages (the cached prompt prefix) are unchanged"


def test_tool_turns_and_repeats():
    a = ToolCall(id="1", name="search", arguments={"query": "q"})
    b = ToolCall(id="2", name="search", arguments={"query": "q"})
    c = ToolCall(id="3", name="search", arguments={"query": "other"})
    msgs = [Message(role="user", content="u"), Message(role="assistant", tool_calls=[a]),
            Message(role="tool", tool_call_id="1", content="r")]
    assert tool_turns(msgs) == 1 and tool_turns(msgs + [Message(role="user", content="again")]) == 0
    assert _repeated_tools(msgs, [b]) == {"search"}
    assert _repeated_tools(msgs, [c]) == set() and _repeated_tools(msgs, []) == set()
    assert _repeated_tools(msgs[:2], [b]) == set(), "no result yet: not a repeat of a finished turn"


# --------------------------------------------------------------------------- agent params


def test_tool_plan_and_request_fields(specs):
    tools = [specs["search"], specs["read_repo"]]
    assert tool_plan({"tool_plan": ["search", "read_repo", "none"]}, tools) == ["search", "read_repo", "none"]
    assert tool_plan({"tool_plan": ["grep", "auto", "required"]}, tools) == ["required", "auto", "required"]
    assert tool_plan({"tool_plan": ["search"]}, []) == []
    with pytest.raises(ConfigError):
        tool_plan({"tool_plan": [1]}, tools)
    fields = request_fields({"tool_plan": ["search"], "tool_args": {}, "max_tokens": 9, "top_k": 5})
    assert fields == {"max_tokens": 9, "params": {"top_k": 5}}, "loop params never reach a provider"


def test_tool_args_errors(specs):
    with pytest.raises(ConfigError) as info:
        narrow_tools([specs["read_repo"]], {"tool_args": {"read_repo": {"file": {"maxLength": 9}}}})
    assert "has no argument `file`" in str(info.value) and "path" in info.value.hint
    with pytest.raises(ConfigError):
        narrow_tools([specs["read_repo"]], {"tool_args": {"read_repo": {"path": {"pattern": "("}}}})
    with pytest.raises(ConfigError):
        narrow_tools([specs["read_repo"]], {"tool_args": ["read_repo"]})


def _openai(server) -> dict:
    return {"provider": "openai", "model": "gpt-test", "base_url": server.url, "max_retries": 0}


@pytest.mark.anyio
async def test_tool_plan_and_tool_args_in_the_loop(server, tmp_path):
    (tmp_path / "README.md").write_text("Joins fire at quorum.\n")
    replies = iter([ow.completion("", [ow.tool_call("search", {"query": "joins"}, "c1")]),
                    ow.completion("", [ow.tool_call("read_file", {"path": "README.md"}, "c2")]),
                    ow.completion("README.md says joins fire at quorum.")])
    server.responder = lambda rec: Reply(json=next(replies))
    h = make_harness({"m": _openai(server)}, workspace=tmp_path)
    spec = AgentSpec(name="r", model="m", tools=["search", "read_file"], max_iterations=5,
                     params={"tool_plan": ["search", "read_file", "none"],
                             "tool_args": {"read_file": {"path": {"pattern": "^[a-z./]+$"}}}})
    r = await h.run_agent(spec, [Message(role="user", content="What about joins?")], effects=MemoryEffectLog(),
                          budget=LimitBudget())
    assert r.stop_reason == "final" and r.text == "README.md says joins fire at quorum."
    bodies = [rec.json for rec in server.requests]
    forced = [{"type": "function", "function": {"name": name}} for name in ("search", "read_file")]
    assert [b["tool_choice"] for b in bodies] == [*forced, "none"]
    read_spec = next(t["function"] for t in bodies[0]["tools"] if t["function"]["name"] == "read_file")
    assert read_spec["parameters"]["properties"]["path"]["pattern"] == "^[a-z./]+$"
    assert all("tool_plan" not in b and "tool_args" not in b for b in bodies)
    await h.aclose()


@pytest.mark.anyio
async def test_a_repeated_failed_call_is_answered_with_its_error(server, tmp_path):
    server.responder = lambda rec: Reply(json=ow.completion(
        "", [ow.tool_call("read_file", {"path": "missing.txt"}, f"c{len(server.requests)}")])
        if len(server.requests) <= 2 else ow.completion("It does not exist."))
    h = make_harness({"m": _openai(server)}, workspace=tmp_path)
    r = await h.run_agent(AgentSpec(name="r", model="m", tools=["read_file"]),
                          [Message(role="user", content="Read missing.txt")], effects=MemoryEffectLog(),
                          budget=LimitBudget())
    results = [m for m in r.messages if m.role == "tool"]
    assert results[0].is_error and "does not exist" in results[0].content
    prefix = REPEAT_FAILED_NOTE.split("{error}")[0].format(tool="read_file")
    assert results[1].is_error and results[1].content.startswith(prefix) and "does not exist" in results[1].content
    assert r.stop_reason == "final" and r.text == "It does not exist."
    await h.aclose()
