"""``kind repl`` nodes run with scripted models (the ``scripted`` provider):
a loop that computes and answers, a cell error fed back to the model, each
limit enforced, ``max_turns`` taking the ``error`` route, escape attempts
refused, and a real ``ragc run`` process killed mid-loop whose ``ragc
resume`` repeats no completed model turn or cell (SQLite journal)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import ragc

RAGC = str(Path(sys.executable).with_name("ragc"))

REGISTRY = """\
[models.coder]
provider = "scripted"
script = "coder.jsonl"
max_retries = 0

[models.helper]
provider = "scripted"
script = "helper.jsonl"
max_retries = 0

[tools.add]
python = "rn_tools:add"
description = "adds two integers"

[tools.secret]
python = "rn_tools:secret"
description = "a tool the node does not grant"

[graphs.greet]
path = "greet.rag"
description = "greets a person by name"
"""

GREET = """\
graph greet {
  input { name: string }
  start hello
  channel greeting last

  node hello {
    kind model
    model "helper"
    prompt "greet {{ input.name }}"
    output greeting
    next END
  }
}
"""

TOOLS = '''\
"""Tools of the repl node tests."""
import os
from pathlib import Path


def add(a: int, b: int) -> str:
    """Add two integers; the first call of a process dies when CRASH_MARK names a missing file.

    Args:
        a: first.
        b: second.
    """
    mark = os.environ.get("CRASH_MARK")
    if mark and not Path(mark).exists():
        Path(mark).write_text("crashed once")
        os._exit(9)
    return str(a + b)


def secret() -> str:
    """Never granted to the node."""
    return "the secret"
'''

GRAPH = """\
graph calc {{
  start solve
  channel answer last

  node solve {{
    kind repl
    model "coder"
    tools ["add"]
    models ["helper"]
    prompt "Add 2 and 3, then multiply by 10."
    max_turns {turns}
    {limits}
    output answer
    routes {{
      ok -> END
      big -> END
      error -> END
    }}
  }}
}}
"""


def cell(code: str, when: str | None = None, **extra) -> dict:
    line = {"text": f"Next step.\n```ragsh\n{code}\n```", **extra}
    if when is not None:
        line["when"] = when
    return line


def project(tmp_path: Path, lines: list[dict], *, turns: int = 4, limits: str = "",
            helper: list[dict] | None = None) -> Path:
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "rn_tools.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "coder.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    (tmp_path / "helper.jsonl").write_text("".join(json.dumps(x) + "\n" for x in helper or []), encoding="utf-8")
    (tmp_path / "calc.rag").write_text(GRAPH.format(turns=turns, limits=limits), encoding="utf-8")
    (tmp_path / "greet.rag").write_text(GREET, encoding="utf-8")
    return tmp_path


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("rn_tools", None)
    return tmp_path


def run(ws: Path):
    wf = ragc.load(ws / "calc.rag", registry=ws / "registry.toml", journal=ws / "runs.sqlite")
    return wf.run_sync({})


def effects(ws: Path, run_id: str) -> list[tuple[str, str]]:
    conn = sqlite3.connect(ws / "runs.sqlite")
    try:
        rows = conn.execute("SELECT payload_json FROM records WHERE run_id=? AND kind='effect' ORDER BY seq",
                            (run_id,)).fetchall()
    finally:
        conn.close()
    return [(json.loads(p)["key"], json.loads(p)["kind"]) for (p,) in rows]


def feedback_of(ws: Path, run_id: str, key: str) -> dict:
    conn = sqlite3.connect(ws / "runs.sqlite")
    try:
        for (p,) in conn.execute("SELECT payload_json FROM records WHERE run_id=? AND kind='effect'", (run_id,)):
            d = json.loads(p)
            if d["key"] == key:
                return d["value"]
    finally:
        conn.close()
    raise AssertionError(f"no effect {key}")


def test_a_loop_computes_and_answers_with_a_route(here):
    ws = project(here, [cell('s = tool_call("add", {"a": 2, "b": 3})\nprint("sum", s)'),
                        cell('answer(int(s) * 10, route="big")', when="sum 5")])
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == 50
    assert effects(ws, res.run_id) == [("m1", "model"), ("c1.t1", "tool"), ("c1", "cell"), ("m2", "model"),
                                       ("c2", "cell")]
    c1 = feedback_of(ws, res.run_id, "c1")
    assert c1["ok"] and c1["output"] == "sum 5\n" and c1["namespace"] == {"s": "5"}


def test_answer_without_route_takes_ok_and_cells_may_query_a_granted_model(here):
    ws = project(here, [cell('r = model_query("helper", "capital of France?")\nanswer({"city": r})')],
                 helper=[{"text": "Paris", "when": "capital of France"}])
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == {"city": "Paris"}
    assert ("c1.m1", "model") in effects(ws, res.run_id)


def test_a_cell_error_is_fed_back_and_the_model_recovers(here):
    ws = project(here, [cell("x = undefined_name + 1"),
                        cell('answer("recovered")', when="undefined_name")])
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == "recovered"
    c1 = feedback_of(ws, res.run_id, "c1")
    assert not c1["ok"] and "undefined_name" in c1["error"]["message"] and c1["error"]["line"] == 1


def test_a_reply_without_a_code_block_costs_a_turn(here):
    ws = project(here, [{"text": "I think the answer is 50."},
                        cell("answer(50)", when="No code cell found")])
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == 50
    assert [k for k, _ in effects(ws, res.run_id)] == ["m1", "m2", "c1"] or \
        [k for k, _ in effects(ws, res.run_id)] == ["m1", "m2", "c2"]


LIMITS = [
    ("max_calls", "limits { max_calls 2 }",
     'for i in range(3):\n    tool_call("add", {"a": i, "b": 1})'),
    ("max_operations", "limits { max_operations 5 }",
     "t = 0\nfor i in range(1000000):\n    t += i"),
    ("max_output_bytes", "limits { max_output_bytes 50 }",
     'for i in range(20):\n    print("0123456789")'),
    ("max_depth", "limits { max_depth 5 }",
     "def f(n):\n    return f(n + 1)\nf(0)"),
    ("timeout_s", "limits { timeout_s 200ms }",
     "t = 0\nfor i in range(100000000):\n    t += i"),
    ("max_source_bytes", "limits { max_source_bytes 40 }",
     "x = " + " + ".join(["1"] * 40)),
]


@pytest.mark.parametrize("limit,block,code", LIMITS, ids=[x[0] for x in LIMITS])
def test_each_limit_stops_the_cell_and_the_model_is_told(here, limit, block, code):
    ws = project(here, [cell(code), cell(f'answer("stopped by {limit}")', when=limit)], limits=block)
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == f"stopped by {limit}"
    c1 = feedback_of(ws, res.run_id, "c1")
    assert c1["error"]["kind"] == "limit" and limit in c1["error"]["message"]


def test_max_turns_without_an_answer_takes_the_error_route(here):
    ws = project(here, [cell("print(1)"), cell("print(2)"), cell("answer(3)")], turns=2)
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state.get("answer") is None
    [err] = res.state["errors"]
    assert err["node"] == "solve" and err["error_kind"] == "limit" and "max_turns (2)" in err["message"]


@pytest.mark.parametrize("code,needle", [
    ('open("calc.rag")', "`open` not found"),
    ("import os", "import"),
    ('"".__class__', "__class__"),
    ('tool_call("secret")', "not granted to this node"),
    ('model_query("coder", "hi")', "not granted to this node"),
    ('graph_run("calc")', "`graph_run` not found"),
    ('graph_define("x", "graph x {}")', "`graph_define` not found"),
    ('answer(1, route="nowhere")', "not a route of this node"),
], ids=["open", "import", "reflection", "ungranted-tool", "ungranted-model", "graph_run", "graph_define",
        "undeclared-route"])
def test_escape_attempts_are_refused(here, code, needle):
    ws = project(here, [cell(code), cell('answer("refused")', when="error:")])
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == "refused"
    c1 = feedback_of(ws, res.run_id, "c1")
    assert not c1["ok"] and needle in c1["error"]["message"], c1["error"]


def test_a_script_runs_as_the_first_cell(here):
    ws = project(here, [cell("answer(base * 2)", when="base = 21")])
    (ws / "setup.ragsh").write_text('base = 21\nprint("base = %d" % base)\n', encoding="utf-8")
    text = (ws / "calc.rag").read_text(encoding="utf-8").replace('    max_turns', '    script "setup"\n    max_turns')
    (ws / "calc.rag").write_text(text, encoding="utf-8")
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == 42
    assert [k for k, _ in effects(ws, res.run_id)][:1] == ["c0"]


def _env(ws: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RAGC_SCRIPTED_LOG"] = str(ws / "calls.log")
    env["CRASH_MARK"] = str(ws / "crashed")
    env["PYTHONPATH"] = os.pathsep.join([str(ws), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("RAGC_DEBUG", None)
    return env


def test_resume_after_a_crash_repeats_no_completed_turn_or_cell(tmp_path):
    # turn 1 computes a value; turn 2's cell calls `add`, whose first call kills the process (os._exit)
    ws = project(tmp_path, [cell('base = 20\nprint("base", base)'),
                            cell('s = tool_call("add", {"a": base, "b": 1})\nprint("sum", s)', when="base 20"),
                            cell("answer(int(s) * 2)", when="sum 21")])
    args = ["--registry", "registry.toml", "--journal", "runs.sqlite"]
    first = subprocess.run([RAGC, "run", "calc.rag", *args, "--run-id", "crash-repl", "--json"], cwd=ws,
                           env=_env(ws), capture_output=True, text=True, timeout=120)
    assert first.returncode == 9, first.stderr
    assert (ws / "crashed").exists()
    assert effects(ws, "crash-repl") == [("m1", "model"), ("c1", "cell"), ("m2", "model")]

    second = subprocess.run([RAGC, "resume", "crash-repl", *args[2:], "--json"], cwd=ws, env=_env(ws),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    final = json.loads(second.stdout.strip().splitlines()[-1])
    assert final["status"] == "completed"
    assert final["state"]["answer"] == 42  # `base` of the journaled cell c1 was restored
    keys = [k for k, _ in effects(ws, "crash-repl")]
    assert keys == ["m1", "c1", "m2", "c2.t1", "c2", "m3", "c3"], "each turn and cell journaled once"
    calls = [json.loads(x) for x in (ws / "calls.log").read_text().splitlines()]
    assert len(calls) == 3 and len({c["line"] for c in calls}) == 3, "no model turn was made twice"
    assert len({c["pid"] for c in calls}) == 2


RACE = """\
graph race {
  channel answer append
  start fork
  node fork {
    kind router
    next [slow, quick]
  }
  join [slow, quick] -> done { policy any }
  node slow {
    kind repl
    model "coder"
    limits { max_operations: 1000000000, timeout_s: 120s }
    output answer
  }
  node quick {
    kind model
    model "helper"
    prompt "quick answer"
    output answer
  }
  node done {
    kind router
    next END
  }
}
"""


def test_a_cancelled_repl_node_stops_its_running_cell(here):
    import time

    ws = project(here, [cell("t = 0\nfor i in range(2000000000):\n    t += i\nanswer(t)")],
                 helper=[{"text": "fast", "when": "quick answer", "delay_ms": 300}])
    (ws / "calc.rag").write_text(RACE, encoding="utf-8")
    started = time.monotonic()
    res = run(ws)
    elapsed = time.monotonic() - started
    assert res.status == "completed", res.error
    assert res.state["answer"] == ["fast"]
    assert elapsed < 20, f"the join waited {elapsed:.1f}s for a cancelled cell"


def test_cells_run_a_granted_registry_graph(here):
    ws = project(here, [cell('r = graph_run("greet", {"name": "Ann"})\nanswer([r["status"], r["output"]["greeting"]])')],
                 helper=[{"text": "hello Ann", "when": "greet Ann"}])
    text = (ws / "calc.rag").read_text(encoding="utf-8").replace('    models ["helper"]', '    graphs ["greet"]')
    (ws / "calc.rag").write_text(text, encoding="utf-8")
    res = run(ws)
    assert res.status == "completed", res.error
    assert res.state["answer"] == ["completed", "hello Ann"]


def test_graph_run_of_a_graph_the_node_does_not_grant_is_refused(here):
    ws = project(here, [cell('graph_run("calc", {})'), cell('answer("refused")', when="error:")])
    text = (ws / "calc.rag").read_text(encoding="utf-8").replace('    models ["helper"]', '    graphs ["greet"]')
    (ws / "calc.rag").write_text(text, encoding="utf-8")
    res = run(ws)
    assert res.status == "completed", res.error
    c1 = feedback_of(ws, res.run_id, "c1")
    assert "unknown graph `calc`" in c1["error"]["message"]
