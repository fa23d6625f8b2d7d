"""The citation guard (ragc.harness.citations) and the evidence it checks:
what counts as a cited path, rewriting a unique suffix to the ledger's path,
marking and removing what no tool returned; and the ledger filled by real
tool calls through the harness (read_file and search report their sources,
a failed call reports none)."""

from __future__ import annotations

import pytest

from ragc.harness.citations import UNVERIFIED_MARK, SourceLedger, find_citations, guard


def test_what_counts_as_a_cited_path():
    text = ("See docs/runtime.md:120-140, `src/ragc/runtime/joins.py` and README.md; also https://example.org/a.html."
            " Not paths: ragc.runtime.joins, Python 3.11, the 0.5B model, e.g. this, v1.2.3.")
    assert [c.path for c in find_citations(text)] == [
        "docs/runtime.md", "src/ragc/runtime/joins.py", "README.md", "https://example.org/a.html"]


def test_guard_keeps_verified_rewrites_suffixes_and_removes_unverified_source_lines():
    ledger = SourceLedger(["docs/runtime.md", "src/ragc/runtime/joins.py"])
    report = ("Answer: a quorum join fires at the Nth success (runtime.md), see src/ragc/runtime.md too.\n"
              "Sources:\n- docs/runtime.md: the joins table\n- src/ragc/check/joins.py: the checker\n"
              "2. https://docs.python.org/3/library/asyncio.html\n- joins.py: the tracker")
    out = guard(report, ledger, "remove")
    assert out.verified == ["docs/runtime.md", "src/ragc/runtime/joins.py"]
    assert out.unverified == ["src/ragc/runtime.md", "src/ragc/check/joins.py",
                              "https://docs.python.org/3/library/asyncio.html"]
    assert out.rewritten == {"runtime.md": "docs/runtime.md", "joins.py": "src/ragc/runtime/joins.py"}
    lines = out.text.split("\n")
    assert lines[0] == (f"Answer: a quorum join fires at the Nth success (docs/runtime.md), see src/ragc/runtime.md "
                        f"{UNVERIFIED_MARK} too.")
    assert "- docs/runtime.md: the joins table" in lines
    assert "- src/ragc/runtime/joins.py: the tracker" in lines
    assert not any("check/joins.py" in ln and not ln.startswith("(citation") for ln in lines)
    assert not any(ln.startswith("2. https") for ln in lines)
    assert lines[-1].startswith("(citation guard: 3 cited path(s) removed or marked")


def test_mark_mode_keeps_lines_and_off_changes_nothing():
    ledger = SourceLedger()
    text = "- ghost.py: does not exist"
    marked = guard(text, ledger, "mark")
    assert marked.text.startswith(f"- ghost.py {UNVERIFIED_MARK}: does not exist")
    assert guard(text, ledger, "off").text == text
    assert guard("no paths here", ledger, "remove").text == "no paths here"


def test_an_ambiguous_suffix_is_not_verified():
    ledger = SourceLedger(["a/joins.py", "b/joins.py"])
    assert ledger.resolve("joins.py") is None and ledger.resolve("./a/joins.py") == "a/joins.py"
    assert guard("joins.py", ledger, "mark").unverified == ["joins.py"]


@pytest.mark.anyio
async def test_tool_results_fill_the_ledger_through_the_harness(tmp_path):
    from ragc.harness.facade import Harness
    from ragc.registry.model import Registry, ToolEntry

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\nJoins fire at a quorum of successes.\n")
    (tmp_path / "notes.txt").write_text("nothing about it\n")
    reg = Registry(tools={"read_file": ToolEntry(builtin="read_file"),
                          "search": ToolEntry(builtin="search", config={"mode": "passages"})})

    class Log:
        def __init__(self):
            self.values = {}

        def get(self, key):
            return self.values.get(key)

        async def put(self, key, kind, value):
            self.values[key] = value

    class Budget:
        def before_tool_call(self, name):
            pass

    h = Harness(reg, workspace=tmp_path)
    ledger = SourceLedger()
    log = Log()
    kw = dict(effects=log, budget=Budget(), sources=ledger)
    res = await h.call_tool("search", {"query": "when do joins fire"}, key="t1", **kw)
    assert res.sources == ["docs/guide.md"] and ledger.paths == ["docs/guide.md"]
    assert log.values["t1"]["sources"] == ["docs/guide.md"]
    bad = await h.call_tool("read_file", {"path": "missing.md"}, key="t2", **kw)
    assert bad.is_error and ledger.paths == ["docs/guide.md"]
    await h.call_tool("read_file", {"path": "notes.txt"}, key="t3", **kw)
    assert ledger.paths == ["docs/guide.md", "notes.txt"]
    assert "sources" not in log.values["t2"], "records of calls without sources stay as they were"
    # a replayed call (served from the effect log) adds its sources too
    fresh = SourceLedger()
    await h.call_tool("search", {"query": "when do joins fire"}, key="t1", effects=log, budget=Budget(), sources=fresh)
    assert fresh.paths == ["docs/guide.md"]
    await h.aclose()
