"""One `.ragsh` script per builtin (tests/repl/scripts/), run in a session
against the scripted registry of conftest.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragc.repl import ReplPolicy, ReplSession

SCRIPTS = Path(__file__).resolve().parent / "scripts"  # (not imported from conftest: another tests/ folder has one)

RAGC = Path(sys.executable).with_name("ragc")


def run_script(registry, name: str, policy: ReplPolicy | None = None):
    with ReplSession(registry, policy=policy or ReplPolicy()) as s:
        result = s.run_cell((SCRIPTS / name).read_text(encoding="utf-8"), name)
        assert result.error is None, result.error.render(name)
        assert result.answered
        return s.answer, s


def test_model_query(registry) -> None:
    answer, _ = run_script(registry, "model_query.ragsh")
    assert answer == {"city": "Paris", "score": 7}


def test_model_query_batched_keeps_input_order(registry) -> None:
    answer, s = run_script(registry, "model_query_batched.ragsh", ReplPolicy(max_concurrency=8))
    assert answer == [f"answer {i}" for i in range(5)]
    assert s.capabilities.peak_in_flight == 5  # all five were in flight together, so order was not by luck


def test_agent_query_runs_the_registry_agent(registry) -> None:
    answer, _ = run_script(registry, "agent_query.ragsh")
    assert answer == "the notes say hello"


def test_agent_query_batched(registry) -> None:
    answer, _ = run_script(registry, "agent_query_batched.ragsh")
    assert answer == ["the notes say hello"]


def test_tool_call_reads_the_workspace(registry) -> None:
    answer, _ = run_script(registry, "tool_call.ragsh")
    assert answer.strip().endswith("hello")


def test_tool_call_batched_respects_max_concurrency(registry) -> None:
    import ragsh_probe

    answer, _ = run_script(registry, "tool_call_batched.ragsh")
    assert answer == [f"probe {i}" for i in range(6)]
    assert ragsh_probe.STATE["calls"] == 6
    assert ragsh_probe.STATE["peak"] == 2  # overlapped (concurrent), never more than asked


def test_session_max_concurrency_caps_what_a_script_asks(registry) -> None:
    import ragsh_probe

    with ReplSession(registry, policy=ReplPolicy(max_concurrency=1)) as s:
        r = s.run_cell('tool_call_batched("probe", [{"n": 1}, {"n": 2}, {"n": 3}], max_concurrency=3)')
    assert r.ok and r.value == ["probe 1", "probe 2", "probe 3"]
    assert ragsh_probe.STATE["peak"] == 1


def test_graph_run_runs_a_registry_graph(registry) -> None:
    answer, _ = run_script(registry, "graph_run.ragsh")
    assert answer == {"status": "completed", "greeting": "hello Ann"}


def test_graph_run_batched_keeps_input_order(registry) -> None:
    answer, _ = run_script(registry, "graph_run_batched.ragsh")
    assert answer == ["hello Bob", "hello Ann"]


def test_graph_define_validate_compile_diff(registry, project: Path) -> None:
    answer, _ = run_script(registry, "graph_authoring.ragsh")
    assert answer["first_ok"] is False and answer["codes"] == ["E0106"]  # unknown model `fakee`
    assert answer["ok"] is True
    assert answer["path"] == ".ragc/generated/shout.rag"
    assert (project / ".ragc" / "generated" / "shout.rag").read_text(encoding="utf-8").count('"fake"') == 1
    assert answer["nodes"] == {"hello": "model"}
    assert answer["hash"].startswith("sha256:")
    assert answer["diff"]["old"]["file"] == "greet" and answer["diff"]["new"]["file"] == "shout"
    assert answer["diff"]["old"]["hash"] != answer["diff"]["new"]["hash"]


def test_show_vars_and_persistence_across_cells(registry) -> None:
    with ReplSession(registry) as s:
        assert s.run_cell((SCRIPTS / "show_vars.ragsh").read_text(encoding="utf-8")).ok
        r = s.run_cell("names.append('c')\nshow_vars()\ntwice(count)")
        assert r.ok and r.value == 4
        assert "count: int = 2" in r.output and "twice: function" in r.output
        r = s.run_cell("show_vars()\nnames")
        assert r.value == ["a", "b", "c"]  # a mutation in one cell is seen by the next
        assert 'names: list = ["a", "b", "c"]' in r.output


def test_answer_ends_the_cell(registry) -> None:
    with ReplSession(registry) as s:
        r = s.run_cell('answer({"done": True})\nprint("never")')
    assert r.ok and r.answered and r.output == "" and s.answer == {"done": True}


def test_script_through_the_cli(project: Path) -> None:
    out = subprocess.run([str(RAGC), "repl", str(SCRIPTS / "model_query.ragsh"), "--json"], cwd=project,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ok"] is True and doc["answer"] == {"city": "Paris", "score": 7} and doc["error"] is None

    out = subprocess.run([str(RAGC), "repl", str(SCRIPTS / "tool_call.ragsh")], cwd=project, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("hello")


@pytest.mark.parametrize("cell, message", [
    ('model_query("fakee", "x")', "unknown model `fakee`"),
    ('agent_query("nobody", "x")', "unknown agent `nobody`"),
    ('tool_call("read_file", {"path": "missing.txt"})', "tool `read_file` failed"),
    ('tool_call("read_file", "notes.txt")', "must be a dict"),
    ('graph_run("nothing")', "unknown graph `nothing`"),
    ('model_query("fake")', "missing a required argument"),
    ('model_query_batched("fake", "not a list")', "must be a list"),
    ('model_query("fake", "no line matches this")', "no line"),
])
def test_capability_errors_are_clear(registry, cell: str, message: str) -> None:
    with ReplSession(registry) as s:
        r = s.run_cell(cell)
    assert r.error is not None and message in r.error.message, r.error and r.error.message
    assert r.error.line == 1 and "Traceback" not in r.error.render()
