"""Result quality of the flagship workflows on the embedded model, scored by
checking the outcome (``bench/quality.py``; the full tables are in
``docs/benchmarks.md``, "Result quality").

Marked ``llm``: each run takes about a minute on 2 cores. CI runs a small
sample: the demo's own question and two more research questions, and two
plan-and-execute goals. What is asserted is what ragc guarantees whatever the
model does -- no report cites a path that no tool of the run returned (the
citation guard), no task is recorded complete whose checks fail (acceptance
checks) -- plus the runs finishing; the accuracy is printed, and measured in
full by ``bench/quality.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import quality  # noqa: E402

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def model_ready() -> None:
    pytest.importorskip("llama_cpp")
    from ragc.harness import local_models

    try:
        local_models.ensure_model("qwen2.5-coder-1.5b")
    except local_models.ConfigError as exc:
        pytest.skip(f"local model not installed: {exc}")


@pytest.mark.timeout(1800)
def test_research_reports_cite_only_what_the_run_read(model_ready, tmp_path):
    rows = quality.research("1.5b", {"quorum", "exit_interrupt", "journal_path"}, 1, tmp_path / "r.jsonl")
    print("\n" + quality.table(rows))
    for r in rows:
        print(r["task"], "right" if r["right"] else "wrong", r["missing_facts"], r["wrong_claims"], r["report"])
    assert [r["status"] for r in rows] == ["completed"] * 3
    assert all(r["report"].strip() for r in rows)
    assert [r["bad_citations"] for r in rows] == [[], [], []]


@pytest.mark.timeout(1800)
def test_plan_and_execute_records_no_false_complete(model_ready, tmp_path):
    rows = quality.plan("1.5b", {"hello_file", "fib"}, tmp_path / "p.jsonl", max_iterations=3)
    print("\n" + quality.table(rows))
    assert [r["status"] in ("completed", "interrupted") for r in rows] == [True, True]
    assert [r["false_complete"] for r in rows] == [[], []]
    for r in rows:
        print(r["task"], "achieved" if r["achieved"] else "not achieved", r["statuses"])
