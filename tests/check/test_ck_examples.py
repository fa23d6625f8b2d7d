"""The seed example and the shared examples check with no diagnostics at all
(no errors, no warnings): against the repository's registry (the seed must,
verbatim) and against the test registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragc.compiler import compile_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED = ROOT / "tests" / "fixtures" / "seed_research_review.rag"
SHARED = HERE / "examples"  # copies of /work/shared/examples (the intended canonical spellings)
EXAMPLES = sorted(SHARED.glob("*.rag")) if SHARED.is_dir() else []
WORKFLOWS = sorted((ROOT / "workflows").glob("*.rag")) if (ROOT / "workflows").is_dir() else []


def test_seed_is_clean_against_the_repository_registry(repo_registry):
    r = compile_file(SEED, repo_registry)
    assert r.diagnostics == []
    assert r.program is not None and r.program.entry == "research_review"


@pytest.mark.skipif(not EXAMPLES, reason="shared examples not available")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_shared_example_is_clean(path, repo_registry, test_registry):
    for registry in (repo_registry, test_registry):
        r = compile_file(path, registry)
        assert r.diagnostics == [], [d.message for d in r.diagnostics]
        assert r.program is not None


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_repository_workflow_is_clean(path, repo_registry):
    r = compile_file(path, repo_registry)
    assert [d for d in r.diagnostics if d.is_error] == []


@pytest.mark.skipif(not Path("/work/shared/examples").is_dir(), reason="the shared examples are not mounted")
def test_example_copies_match_the_shared_ones():
    shared = {p.name: p.read_text() for p in Path("/work/shared/examples").glob("*.rag")}
    assert shared == {p.name: p.read_text() for p in EXAMPLES}
