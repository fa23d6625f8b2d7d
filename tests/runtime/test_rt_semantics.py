"""Sequential semantics: channels and reducers, routing, expressions and
templates, custom nodes, error routes, limits and input validation."""

from __future__ import annotations

import pytest
from irb import band, cmp, fn, graph, length, node, nxt, program, routes, tpl

from ragc.runtime.engine import Engine
from ragc.runtime.errors import RunError
from ragc.runtime.functions import NodeResult

pytestmark = pytest.mark.anyio


async def run(prog, inputs=None, **functions):
    return await Engine(prog, functions=functions).start(inputs or {})


async def test_chain_appends_in_order_and_returns_state():
    g = graph("g", "a", [
        fn("a", "f", output="items", input="$input.x", routing=nxt("b")),
        fn("b", "f", output="items", input=2, routing=nxt("c")),
        fn("c", "f", output="items", input=3),
    ], channels={"items": "append"}, inputs={"x": {"type": "integer"}})
    r = await run(program(g), {"x": 1}, f=lambda i: f"v{i}")
    assert r.status == "completed"
    assert r.state["items"] == ["v1", "v2", "v3"]
    assert r.output["items"] == ["v1", "v2", "v3"]
    assert r.usage["steps"] == 3


async def test_output_block_types_are_checked_when_the_run_completes():
    schema = {"type": "object", "properties": {"verdict": {"type": "string"}}, "required": ["verdict"],
              "additionalProperties": False}
    ok = graph("g", "a", [fn("a", "f", output="verdict")], channels={"verdict": "last"}, output=["verdict"])
    ok = ok.model_copy(update={"output_schema": schema})
    r = await run(program(ok), f=lambda: "merge")
    assert r.status == "completed" and r.output == {"verdict": "merge"}
    bad = ok.model_copy(update={"nodes": {"a": fn("a", "f", output="other")}, "channels": {
        **ok.channels, "other": ok.channels["verdict"].model_copy(update={"name": "other"})}})
    r = await run(program(bad), f=lambda: "merge")
    assert r.status == "failed" and r.error.code == "E0916"
    assert "`verdict` must be a string, got null" in r.error.message and r.output is None
    assert r.state["other"] == "merge"  # the state is kept


@pytest.mark.parametrize("reducer,writes,expected", [
    ("last", [1, 2, 3], 3),
    ("append", [1, [2, 3], "x"], [1, 2, 3, "x"]),
    ("sum", [1, 2, 3.5], 6.5),
    ("union", [[1, 2], [2, 3], 1], [1, 2, 3]),
    ("min", [5, 2, 9], 2),
    ("max", [5, 2, 9], 9),
    ("merge", [{"a": 1}, {"b": 2}, {"a": 3}], {"a": 3, "b": 2}),
])
async def test_reducers(reducer, writes, expected):
    nodes = []
    for i, w in enumerate(writes):
        nodes.append(fn(f"n{i}", "f", output="ch", input=w,
                        routing=nxt(f"n{i + 1}") if i + 1 < len(writes) else None))
    g = graph("g", "n0", nodes, channels={"ch": reducer})
    r = await run(program(g), f=lambda v: v)
    assert r.state["ch"] == expected


async def test_max_items_drops_oldest():
    nodes = [fn(f"n{i}", "f", output="ch", input=i, routing=nxt(f"n{i + 1}") if i < 4 else None) for i in range(5)]
    g = graph("g", "n0", nodes, channels={"ch": {"reducer": "append", "max_items": 2}})
    r = await run(program(g), f=lambda v: v)
    assert r.state["ch"] == [3, 4]


async def test_messages_reducer_normalises_strings_and_merges_by_id():
    def say(inp):
        return inp

    g = graph("g", "a", [
        fn("a", "say", output="msgs", input="hello", routing=nxt("b")),
        fn("b", "say", output="msgs", input={"role": "user", "content": "q", "id": "u1"}, routing=nxt("c")),
        fn("c", "say", output="msgs", input={"role": "user", "content": "q2", "id": "u1"}),
    ], channels={"msgs": "messages"})
    r = await run(program(g), say=say)
    msgs = r.state["msgs"]
    assert msgs[0] == {"id": "a#1", "role": "assistant", "name": "a", "content": "hello"}
    assert len(msgs) == 2 and msgs[1]["content"] == "q2"


async def test_channel_defaults_and_errors_channel_builtin():
    g = graph("g", "a", [fn("a", "f")], channels={"n": {"reducer": "sum", "default": 10}, "l": "append"})
    r = await run(program(g), f=lambda: None)
    assert r.state == {"n": 10, "l": [], "errors": []}


async def test_channel_named_like_input_starts_with_input_value():
    g = graph("g", "a", [fn("a", "f", output="big", input=4)], channels={"big": "append"},
              inputs={"big": {"type": "array"}})
    data = [1, 2, 3]
    r = await run(program(g), {"big": data}, f=lambda v: v)
    assert r.state["big"] == [1, 2, 3, 4]
    assert data == [1, 2, 3], "the caller's list must not be mutated"


async def test_router_conditions_first_true_wins_and_loops():
    g = graph("g", "inc", [
        fn("inc", "one", output="count", routing=nxt("check")),
        node("check", "router", routing=routes("condition", ("again", "inc", cmp("<", "$state.count", 3)),
                                                ("done", "END"))),
    ], channels={"count": "sum"})
    r = await run(program(g), one=lambda: 1)
    assert r.state["count"] == 3
    assert r.usage["steps"] == 6


async def test_condition_operators():
    cond = band(cmp("in", "b", "$input.tags"), cmp(">=", length("$input.tags"), 2), cmp("!=", "$input.name", None))
    g = graph("g", "r", [
        node("r", "router", routing=routes("condition", ("yes", "y", cond), ("no", "n"))),
        fn("y", "f", output="out", input="yes"),
        fn("n", "f", output="out", input="no"),
    ], channels={"out": "last"}, inputs={"tags": {"type": "array"}, "name": {"type": "string"}})
    r = await run(program(g), {"tags": ["a", "b"], "name": "x"}, f=lambda v: v)
    assert r.state["out"] == "yes"
    r = await run(program(g), {"tags": ["a"], "name": "x"}, f=lambda v: v)
    assert r.state["out"] == "no"


async def test_unknown_label_is_E0903_naming_node_and_label():
    g = graph("g", "a", [
        fn("a", "pick", routing=routes("outcome", ("ok", "END"), ("error", "END"))),
    ])
    r = await run(program(g), pick=lambda: NodeResult("x", route="sideways"))
    assert r.status == "failed"
    assert r.error.code == "E0903"
    assert "`a`" in r.error.message and "`sideways`" in r.error.message
    assert r.error.span is not None and r.error.span.file == "test.rag"


async def test_node_result_route_and_update():
    g = graph("g", "a", [
        fn("a", "pick", output="val", routing=routes("outcome", ("ok", "b"), ("special", "c"))),
        fn("b", "f", output="val", input="b"),
        fn("c", "f", output="val", input="c"),
    ], channels={"val": "last", "extra": "append"})
    r = await run(program(g), pick=lambda: NodeResult(1, route="special", update={"extra": ["x", "y"]}),
                  f=lambda v: v)
    assert r.state["val"] == "c" and r.state["extra"] == ["x", "y"]


async def test_update_expressions_see_result_and_state_after_output():
    g = graph("g", "a", [
        fn("a", "f", output="items", input=[1, 2, 3],
           update={"n": "$result[1]", "count": length("$state.items"), "label": "got {{ result | length }}"}),
    ], channels={"items": "append", "n": "last", "count": "last", "label": "last"})
    r = await run(program(g), f=lambda v: v)
    assert r.state["n"] == 2 and r.state["count"] == 3 and r.state["label"] == "got 3"


async def test_update_snapshot_of_a_list_is_not_mutated_later():
    g = graph("g", "a", [
        fn("a", "f", output="items", input=1, routing=nxt("b")),
        fn("b", "f", output="items", input=2, update={"snap": "$state.items"}, routing=nxt("c")),
        fn("c", "f", output="items", input=3),
    ], channels={"items": "append", "snap": "last"})
    r = await run(program(g), f=lambda v: v)
    assert r.state["items"] == [1, 2, 3]
    assert r.state["snap"] == [1, 2]


async def test_function_returning_a_state_list_is_not_aliased():
    def grab(inp, state):
        return state["items"]

    g = graph("g", "a", [
        fn("a", "f", output="items", input=1, routing=nxt("b")),
        fn("b", "grab", output="snap", routing=nxt("c")),
        fn("c", "f", output="items", input=2),
    ], channels={"items": "append", "snap": "last"})
    r = await run(program(g), f=lambda v: v, grab=grab)
    assert r.state["snap"] == [1] and r.state["items"] == [1, 2]


async def test_templates_render_lists_and_dicts():
    g = graph("g", "a", [
        fn("a", "f", output="out",
           input=tpl("{{ input.words }}|{{ input.nums }}|{{ input.obj }}|{{ input.none }}|{{ input.flag }}")),
    ], channels={"out": "last"}, inputs={"words": {}, "nums": {}, "obj": {}, "none": {}, "flag": {}})
    r = await run(program(g), {"words": ["a", "b"], "nums": [1, 2], "obj": {"k": "v"}, "none": None, "flag": True},
                  f=lambda v: v)
    assert r.state["out"] == 'a\n\nb|[1, 2]|{"k": "v"}||true'


async def test_template_undefined_is_an_error_E0908():
    g = graph("g", "a", [fn("a", "f", output="out", input=tpl("{{ input.missing }}"))], channels={"out": "last"})
    r = await run(program(g), f=lambda v: v)
    assert r.status == "failed" and r.error.code == "E0908"
    assert "missing" in r.error.message


async def test_template_sandbox_blocks_attribute_tricks():
    g = graph("g", "a", [fn("a", "f", output="out", input=tpl("{{ input.__class__.__mro__ }}"))],
              channels={"out": "last"})
    r = await run(program(g), f=lambda v: v)
    assert r.status == "failed" and r.error.code == "E0908"
    # refused by the sandbox (not, say, an undefined name), and nothing was rendered into the state
    assert "not allowed in the sandbox" in r.error.message and "'__class__'" in r.error.message
    assert r.state["out"] is None


async def test_path_errors_are_E0908():
    g = graph("g", "a", [fn("a", "f", output="out", input="$input.x.y")], channels={"out": "last"},
              inputs={"x": {}})
    r = await run(program(g), {"x": {"z": 1}}, f=lambda v: v)
    assert r.status == "failed" and r.error.code == "E0908" and "`y`" in r.error.message


async def test_error_route_appends_to_errors_and_binds_error():
    def boom():
        raise ValueError("bad thing")

    g = graph("g", "a", [
        fn("a", "boom", routing=routes("outcome", ("ok", "END"), ("error", "fallback"))),
        fn("fallback", "f", output="out", input="{{ error.message }}"),
    ], channels={"out": "last"})
    r = await run(program(g), boom=boom, f=lambda v: v)
    assert r.status == "completed"
    assert r.state["errors"][0]["node"] == "a"
    assert r.state["errors"][0]["activation"] == "a#1"
    assert r.state["errors"][0]["error_kind"] == "function"
    assert "bad thing" in r.state["out"]


async def test_failure_without_error_route_fails_the_run_E0909():
    def boom():
        raise ValueError("bad thing")

    g = graph("g", "a", [fn("a", "boom")])
    r = await run(program(g), boom=boom)
    assert r.status == "failed" and r.error.code == "E0909" and r.error.node == "a"
    assert "ValueError" in r.error.message


async def test_max_steps_E0901():
    g = graph("g", "a", [fn("a", "f", routing=nxt("a"))], max_steps=50)
    r = await run(program(g), f=lambda: None)
    assert r.status == "failed" and r.error.code == "E0901" and r.error.node == "a"
    assert r.usage["steps"] == 51


async def test_max_visits_E0902():
    g = graph("g", "a", [fn("a", "f", routing=nxt("b")), fn("b", "f", routing=nxt("a"), max_visits=3)])
    r = await run(program(g), f=lambda: None)
    assert r.status == "failed" and r.error.code == "E0902" and r.error.node == "b"
    assert r.error.span is not None


async def test_input_validation_E0912():
    g = graph("g", "a", [fn("a", "f")], inputs={"q": {"type": "string"}, "n": {"type": "integer", "default": 3}},
              required=["q"])
    eng = Engine(program(g), functions={"f": lambda: None})
    with pytest.raises(RunError) as e:
        await eng.start({})
    assert e.value.code == "E0912" and "`q`" in e.value.message
    with pytest.raises(RunError) as e:
        await eng.start({"q": 1})
    assert "must be a string" in e.value.message
    with pytest.raises(RunError) as e:
        await eng.start({"q": "x", "typo": 1})
    assert "unknown field `typo`" in e.value.message
    r = await eng.start({"q": "x"})
    assert r.status == "completed"


async def test_async_functions_and_one_argument_functions():
    async def double(x):
        return x * 2

    g = graph("g", "a", [fn("a", "double", output="v", input=21)], channels={"v": "last"})
    r = await run(program(g), double=double)
    assert r.state["v"] == 42


async def test_lifecycle_node_retries_only_exec():
    calls = {"prep": 0, "exec": 0, "post": 0}

    class Flaky:
        def prep(self, state, inp):
            calls["prep"] += 1
            return inp + 1

        async def exec(self, p):
            calls["exec"] += 1
            if calls["exec"] < 3:
                raise RuntimeError("transient")
            return p * 10

        def post(self, state, p, e):
            calls["post"] += 1
            return {"p": p, "e": e}

    g = graph("g", "a", [fn("a", "flaky", output="v", input=1,
                            retry={"max_attempts": 3, "initial_s": 0.001, "jitter": False})], channels={"v": "last"})
    r = await run(program(g), flaky=Flaky)
    assert r.status == "completed", r.error
    assert r.state["v"] == {"p": 2, "e": 20}
    assert calls == {"prep": 1, "exec": 3, "post": 1}


async def test_router_function_from_api():
    def choose(state, inp):
        return "b" if inp["x"] > 0 else "c"

    g = graph("g", "r", [
        node("r", "router", routing=routes("function", ("b", "b"), ("c", "c"), function="choose")),
        fn("b", "f", output="out", input="B"), fn("c", "f", output="out", input="C"),
    ], channels={"out": "last"}, inputs={"x": {"type": "integer"}})
    r = await run(program(g), {"x": 1}, choose=choose, f=lambda v: v)
    assert r.status == "completed" and r.state["out"] == "B"
    r = await run(program(g), {"x": -1}, choose=choose, f=lambda v: v)
    assert r.status == "completed" and r.state["out"] == "C"  # the function's answer decides, not a default


async def test_missing_function_is_E0914_at_load():
    g = graph("g", "a", [fn("a", "nope")])
    with pytest.raises(RunError) as e:
        Engine(program(g))
    assert e.value.code == "E0914" and "`nope`" in e.value.message


async def test_custom_reducer_from_registry(tmp_path, monkeypatch):
    (tmp_path / "myred.py").write_text("def longest(cur, upd):\n    return upd if len(upd) > len(cur or '') else cur\n")
    from ragc.registry.model import ReducerEntry, Registry

    reg = Registry(reducers={"longest": ReducerEntry(python="myred:longest")})
    reg.source = tmp_path / "registry.toml"
    nodes = [fn(f"n{i}", "f", output="ch", input=w, routing=nxt(f"n{i + 1}") if i < 2 else None)
             for i, w in enumerate(["ab", "abcd", "x"])]
    g = graph("g", "n0", nodes, channels={"ch": {"reducer": "custom", "custom": "longest"}})
    r = await Engine(program(g), registry=reg, functions={"f": lambda v: v}).start({})
    assert r.state["ch"] == "abcd"
