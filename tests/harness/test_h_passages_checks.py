"""The ``search`` tool's passage mode (ragc.harness.tools.passages) and the
``run_checks`` acceptance-check tool (ragc.harness.tools.checks), on real
files and real commands in a temporary workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ragc.harness.errors import ConfigError
from ragc.harness.tools import passages
from ragc.harness.tools.builtins import SearchArgs, make_builtin
from ragc.harness.tools.checks import RunChecksArgs, expect_matches
from ragc.harness.tools.sandbox import Workspace
from ragc.registry.model import RunCommandPolicy

pytestmark = pytest.mark.anyio

DOC = """# Runtime

## Joins

A `quorum N` join fires at the Nth success and cancels the rest of the branches.

```console
$ ragc run quorum.rag --input fires=3 --branches lose
```

## Journal

Runs are journaled in SQLite.
"""

CODE = '''"""Join trackers."""


class JoinTracker:
    """Counts arrivals."""

    def decide(self):
        return self.ok >= self.need


def unrelated():
    return 1
'''


def test_markdown_splits_by_section_with_heading_trails_and_code_by_definition():
    doc = passages.split("docs/runtime.md", DOC)
    # an empty section gives no passage; passages have no blank lines at their ends
    assert [(p.heading, p.start) for p in doc] == [("Runtime > Joins", 5), ("Runtime > Journal", 13)]
    code = passages.split("src/joins.py", CODE)
    assert [p.heading for p in code] == ["joins.py", "JoinTracker", "JoinTracker.decide", "unrelated"]
    assert passages.terms("Branches fire when quorum_join loses") == ["branch", "fire", "quorum", "join", "lose"]


def test_the_passage_that_explains_beats_a_command_line_that_mentions_the_words():
    pool = passages.split("docs/runtime.md", DOC) + passages.split("docs/other.md", "# Other\n\nNothing here.\n")
    best = passages.rank(pool, "When does a quorum join fire and what happens to the branches that lose?", 2)
    assert best[0][1].heading == "Runtime > Joins"
    assert "cancels the rest" in best[0][1].text()



TABLE_DOC = """# CLI

## Exit codes

| code | meaning |
|---|---|
| 0 | success |
| 2 | usage error \\| bad option |
| 3 | a run is interrupted and waits for an answer |

Ctrl-C exits with 130.

| a | b |
| loose row | no header |
"""


def test_a_table_is_shown_as_one_line_per_row_that_names_each_cell_by_its_column():
    """A small model misread the third cell of a pipe-separated row: rows are
    shown as `- HEADER CELL — HEADER: CELL`; the header and rule rows are
    dropped, an escaped bar stays text, prose is unchanged, and a table with
    no rule row keeps its cells."""
    (psg,) = passages.split("docs/cli.md", TABLE_DOC)
    assert psg.text().splitlines() == [
        "- code 0 — meaning: success",
        "- code 2 — meaning: usage error | bad option",
        "- code 3 — meaning: a run is interrupted and waits for an answer",
        "",
        "Ctrl-C exits with 130.",
        "",
        "- a — b",
        "- loose row — no header",
    ]
    # ranking still reads the raw row: the first cell is a definition
    assert passages.terms("loose row")[0] in psg.fields["definition"]


async def test_search_in_passage_mode_returns_sections_with_sources_and_honours_exclude(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "runtime.md").write_text(DOC)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "answers.md").write_text("# Quorum\n\nA quorum join fires at the Nth success.\n")
    ws = Workspace(tmp_path)
    search = make_builtin("search", name="search", workspace=ws, config={"mode": "passages", "exclude": ["tests"]})
    res = await search.invoke(SearchArgs(query="when does a quorum join fire"))
    assert res.sources == ["docs/runtime.md"]
    assert res.content.startswith("[1] docs/runtime.md:5-9 (Runtime > Joins)\n")
    assert res.value[0] | {"text": ""} == {"path": "docs/runtime.md", "line": 5, "end_line": 9,
                                          "heading": "Runtime > Joins", "text": ""}
    everything = make_builtin("search", name="search", workspace=ws, config={"mode": "passages"})
    assert "tests/answers.md" in (await everything.invoke(SearchArgs(query="quorum join fire"))).sources
    with pytest.raises(ConfigError, match="mode"):
        make_builtin("search", name="search", workspace=ws, config={"mode": "files"})
    with pytest.raises(ConfigError, match="exclude"):
        make_builtin("search", name="search", workspace=ws, config={"exclude": "tests"})


def test_expected_output_matches_words_and_numbers_in_order():
    assert expect_matches("0, 1, 1, 2, 3", "0\n1\n1\n2\n3\n5\n")
    assert expect_matches("Hello, Ann!", "hello ann")
    assert not expect_matches("1 2 3", "3 2 1")
    assert not expect_matches("34", "3 4")
    assert expect_matches("", "anything")


async def test_run_checks_runs_file_and_command_checks_under_the_run_command_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    (tmp_path / "fib.py").write_text("a, b = 0, 1\nfor _ in range(5):\n    print(a)\n    a, b = b, a + b\n")
    ws = Workspace(tmp_path)
    policy = RunCommandPolicy(allow=("python3",), timeout=10.0)
    tool = make_builtin("run_checks", name="run_checks", workspace=ws, run_policy=policy)
    ok = await tool.invoke(RunChecksArgs.model_validate({"checks": [
        {"file": "fib.py", "contains": "print(a)"}, {"command": "python3 fib.py", "expect": "0 1 1 2 3"}]}))
    assert ok.value["passed"] is True and not ok.is_error
    assert ok.content.splitlines()[0] == "all checks passed"
    bad = await tool.invoke(RunChecksArgs.model_validate({"checks": [
        {"file": "missing.py"}, {"command": "python3 fib.py", "expect": "0 1 1 2 3 5 8"},
        {"command": "ls"}, {"command": "python3 -c 'import sys; sys.exit(3)'", "exit_code": 3}, {}]}))
    assert bad.value["passed"] is False
    assert [r["passed"] for r in bad.value["results"]] == [False, False, False, True, False]
    details = [r["detail"] for r in bad.value["results"]]
    assert details[0] == "missing.py does not exist"
    assert details[1] == "it printed '0\\n1\\n1\\n2\\n3'; it must print '0 1 1 2 3 5 8'"
    assert "not an allowed program" in details[2], "commands obey the policy's allow list"
    assert details[4] == "a check needs `file` or `command`"
    empty = await tool.invoke(RunChecksArgs(checks=[]))
    assert empty.value == {"passed": False, "results": []}, "nothing checked is not a pass"


async def test_a_failed_command_check_shows_the_exception_and_its_line_not_a_cut_traceback(tmp_path, monkeypatch):
    # the worker of plan_and_execute rewrote the same fib.py six times: the check's message was
    # the head of a traceback cut before its last line, the one that says what is wrong
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    (tmp_path / "fib.py").write_text("import sys\n\n\ndef fib(n):\n    return n\n\n\n"
                                     "if __name__ == '__main__':\n    n = int(sys.argv[1])\n    print(fib(n))\n")
    tool = make_builtin("run_checks", name="run_checks", workspace=Workspace(tmp_path),
                        run_policy=RunCommandPolicy(allow=("python3",), timeout=10.0))
    res = await tool.invoke(RunChecksArgs.model_validate({"checks": [{"command": "python3 fib.py", "expect": "0 1 1"}]}))
    assert res.value["results"][0]["detail"] == (
        "exit code 1, expected 0; error: IndexError: list index out of range "
        "(at fib.py line 9: n = int(sys.argv[1])); it printed nothing; it must print '0 1 1'")
    (tmp_path / "fib.py").write_text("import sys\nsys.stderr.write('bad input\\n')\nsys.exit(2)\n")
    res = await tool.invoke(RunChecksArgs.model_validate({"checks": [{"command": "python3 fib.py"}]}))
    assert res.value["results"][0]["detail"] == "exit code 2, expected 0; error: bad input; it printed nothing"


def test_ranking_from_many_threads_at_once_gives_the_same_answer():
    # parallel branches search at the same time in worker threads (a shared Snowball
    # stemmer object once raised IndexError there)
    from concurrent.futures import ThreadPoolExecutor

    passages._stem.cache_clear()
    text = " ".join(f"branches{i} cancelling{i} quorums{i} joining{i} fired{i} losers{i}" for i in range(400))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: passages.terms(text), range(16)))
    assert all(r == results[0] for r in results) and len(results[0]) == 2400


async def test_a_missing_file_check_says_where_a_file_of_that_name_was_written(tmp_path):
    # the 1.5B worker of plan_and_execute wrote ws-count_lines/count.py (the workspace's own
    # folder name, seen in an absolute path of an error) eight times over, told only "count.py
    # does not exist"; the hint names where its file went
    (tmp_path / "ws-demo").mkdir()
    (tmp_path / "ws-demo" / "count.py").write_text("print(5)\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "count.py").write_text("hidden folders are not searched\n")
    tool = make_builtin("run_checks", name="run_checks", workspace=Workspace(tmp_path),
                        run_policy=RunCommandPolicy(allow=("python3",), timeout=10.0))
    res = await tool.invoke(RunChecksArgs.model_validate({"checks": [{"file": "count.py"}, {"file": "other.py"}]}))
    assert [r["detail"] for r in res.value["results"]] == [
        "count.py does not exist (a file of that name is at ws-demo/count.py; paths are relative to "
        "the workspace root, the current directory)",
        "other.py does not exist"]
    (tmp_path / "count.py").write_text("print(5)\n")
    res = await tool.invoke(RunChecksArgs.model_validate({"checks": [{"file": "count.py"}]}))
    assert res.value["passed"] is True
