"""The CLI runs, resumes and forks through :mod:`ragc.api` (it builds no
engine of its own); "no answer" is the public :data:`ragc.NO_ANSWER`, so
``None`` is a real interrupt answer where the options allow it; no private
name is imported across a module boundary."""

from __future__ import annotations

import ast
import copy
import json
import pickle
from pathlib import Path

import pytest
from clikit import ragc as ragc_cli

import ragc
from ragc.runtime.errors import RunError

SRC = Path(ragc.__file__).resolve().parent

ASK = """
graph ask {
  start q
  channel answer last
  node q {
    kind interrupt
    prompt "Anything to add?"
    output answer
    next END
  }
}
"""

PICK = """
graph pick {
  start q
  channel answer last
  node q {
    kind interrupt
    prompt "Publish?"
    options ["yes", "no"]
    output answer
    next END
  }
}
"""


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A project root (``.git``) with an empty registry, ``ask.rag`` and ``pick.rag``."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "registry.toml").write_text("")
    (tmp_path / "ask.rag").write_text(ASK)
    (tmp_path / "pick.rag").write_text(PICK)
    return tmp_path


def _last(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_no_answer_is_one_public_object():
    from ragc.api import NO_ANSWER as from_api
    from ragc.sentinels import NO_ANSWER, NoAnswer

    assert ragc.NO_ANSWER is from_api is NO_ANSWER
    assert NoAnswer() is NO_ANSWER and copy.deepcopy(NO_ANSWER) is NO_ANSWER
    assert pickle.loads(pickle.dumps(NO_ANSWER)) is NO_ANSWER
    assert not NO_ANSWER and repr(NO_ANSWER) == "NO_ANSWER" and NO_ANSWER is not None
    import inspect

    from ragc.runtime.engine import Engine

    # the engine's default is the same object: "left out" and NO_ANSWER mean the same
    assert inspect.signature(Engine.resume).parameters["answer"].default is NO_ANSWER
    assert inspect.signature(ragc.Workflow.resume).parameters["answer"].default is NO_ANSWER


def test_none_answers_a_question_without_options(proj: Path, monkeypatch):
    monkeypatch.chdir(proj)
    with ragc.load("ask.rag", registry="registry.toml", journal="runs.sqlite") as wf:
        first = wf.run_sync({})
        assert first.status == "interrupted" and first.interrupt["options"] == []
        # left out: no answer, the run still waits (no deadline passed)
        assert wf.resume_sync(first.run_id).status == "interrupted"
        assert wf.resume_sync(first.run_id, ragc.NO_ANSWER).status == "interrupted"
        done = wf.resume_sync(first.run_id, None)
        assert done.status == "completed", done.error
        assert "answer" in done.state and done.state["answer"] is None
        answers = [r.payload for r in wf.store.records(first.run_id) if r.kind == "answer"]
        assert answers == [{"value": None, "source": "user"}]
        assert wf.inspect_sync(first.run_id)["answer"] is None


def test_none_is_refused_where_the_options_do_not_allow_it(proj: Path, monkeypatch):
    monkeypatch.chdir(proj)
    with ragc.load("pick.rag", registry="registry.toml", journal="memory") as wf:
        first = wf.run_sync({})
        with pytest.raises(RunError) as e:
            wf.resume_sync(first.run_id, None)
        assert e.value.code == "E0911" and "'yes', 'no'" in e.value.message
        assert wf.resume_sync(first.run_id, "no").state["answer"] == "no"


def test_ragc_resume_answer_json_null_goes_through_the_api(proj: Path):
    r = ragc_cli("run", "ask.rag", "--json", "--no-ask", cwd=proj)
    assert r.code == 3, r.err
    run_id = _last(r.out)["run_id"]
    assert "ragc resume" in r.err
    bad = ragc_cli("resume", run_id, "--answer-json", "nope", cwd=proj)
    assert bad.code == 2 and "is not JSON" in bad.err and "Traceback" not in bad.err
    both = ragc_cli("resume", run_id, "--answer", "x", "--answer-json", "1", cwd=proj)
    assert both.code == 2 and "not allowed with" in both.err
    still = ragc_cli("resume", run_id, "--json", "--no-ask", cwd=proj)
    assert still.code == 3 and _last(still.out)["status"] == "interrupted"
    done = ragc_cli("resume", run_id[:12], "--answer-json", "null", "--json", cwd=proj)
    assert done.code == 0, done.err
    final = _last(done.out)
    assert final["status"] == "completed" and final["state"]["answer"] is None
    shown = ragc_cli("runs", "show", run_id, "--json", cwd=proj)
    assert shown.code == 0 and json.loads(shown.out)["state"]["answer"] is None


def test_ragc_resume_refuses_an_answer_that_is_not_an_option(proj: Path):
    r = ragc_cli("run", "pick.rag", "--json", "--no-ask", cwd=proj)
    run_id = _last(r.out)["run_id"]
    bad = ragc_cli("resume", run_id, "--answer-json", "null", cwd=proj)
    assert bad.code == 2 and "E0911" in bad.err and "Traceback" not in bad.err
    ok = ragc_cli("resume", run_id, "--answer", "yes", cwd=proj)
    assert ok.code == 0 and ok.out.strip() == '{\n  "answer": "yes"\n}'


def test_load_run_recompiles_the_source_or_falls_back_to_the_journal(proj: Path, monkeypatch):
    monkeypatch.chdir(proj)
    with ragc.load("pick.rag", registry="registry.toml", journal="runs.sqlite") as wf:
        run_id = wf.run_sync({}).run_id
    with ragc.load_run(run_id, journal="runs.sqlite") as again:
        assert again.warnings == [] and again.name == "pick"
        assert str(proj / "pick.rag") in again.sources
        assert again.resume_sync(run_id, "yes").state["answer"] == "yes"

    with ragc.load("pick.rag", registry="registry.toml", journal="runs.sqlite") as wf:
        run_id = wf.run_sync({}).run_id
    (proj / "pick.rag").write_text(PICK.replace("start q", "start nowhere"))
    with ragc.load_run(run_id, journal="runs.sqlite") as broken:
        assert broken.warnings == [f"`{proj / 'pick.rag'}` no longer compiles; resuming with the graph stored "
                                   f"in the journal"]
        assert broken.resume_sync(run_id, "no").state["answer"] == "no"
    (proj / "pick.rag").unlink()
    with ragc.load_run(run_id, journal="runs.sqlite", lenient=True) as gone:
        assert gone.warnings == [] and gone.inspect_sync(run_id)["answer"] == "no"
    with pytest.raises(ragc.RagcError, match="no run `nope`"):
        ragc.load_run("nope", journal="runs.sqlite")
    with pytest.raises(ragc.RagcError, match="needs a journal"):
        ragc.load_run(run_id, journal=None)


def test_from_program_keeps_the_run_error_of_a_program_that_cannot_run(proj: Path):
    from ragc.compiler import compile_source
    from ragc.registry.model import Registry

    text = ('graph f {\n  channel out last\n  start f\n  node f {\n    kind function\n'
            '    function "missing"\n    output out\n  }\n}\n')
    reg = Registry.model_validate({"functions": {"missing": {"python": "no_such_module_xyz:fn"}}})
    result = compile_source(text, "f.rag", reg)
    assert result.ok, result.diagnostics
    with pytest.raises(ragc.RagcError) as e:
        ragc.Workflow.from_program(result.program, reg)
    assert e.value.run_error is not None and e.value.run_error.code == "E0914"
    assert "no_such_module_xyz" in str(e.value)
    # the CLI renders that RunError as a diagnostic (exit 2), not a traceback
    (proj / "registry.toml").write_text('[functions.missing]\npython = "no_such_module_xyz:fn"\n')
    (proj / "f.rag").write_text(text)
    r = ragc_cli("run", "f.rag", cwd=proj)
    assert r.code == 2 and "error[E0914]" in r.err and "Traceback" not in r.err, r.err


def _imports_of(path: Path):
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "ragc":
            yield n


# Private names other stages still import (outside this change's reach);
# the list may only shrink.
KNOWN_PRIVATE_IMPORTS = {
    ("author/decoding.py", "ragc.harness.providers.local", "_load_engine"),
    ("harness/providers/local.py", "ragc.harness.providers.react", "_first_json_object"),
}


def test_no_private_name_crosses_a_module_boundary():
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for n in _imports_of(path):
            for alias in n.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.add((rel, n.module, alias.name))
    assert found <= KNOWN_PRIVATE_IMPORTS, sorted(found - KNOWN_PRIVATE_IMPORTS)


def test_the_cli_builds_no_engine_of_its_own():
    for path in sorted((SRC / "cli").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "Engine(" not in text, path.name
        assert not [n for n in _imports_of(path) if n.module == "ragc.runtime.engine"], path.name
