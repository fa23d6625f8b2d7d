"""The Python API's one-call entry points, ``ragc.run`` and ``ragc.arun``,
and Python tools imported from the registry's own folder like functions."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import ragc

HELPERS = '''
def double(n: int) -> int:
    """Twice n.

    Args:
        n: a number.
    """
    return 2 * n


def add_one(inp, state):
    return state["doubled"] + 1
'''

REGISTRY = """
[tools.double]
python = "api_helpers_14:double"

[functions.add_one]
python = "api_helpers_14:add_one"
"""

FLOW = """
graph g {
  input {
    n: int
  }
  start twice
  channel doubled last
  channel result last
  node twice {
    kind tool
    tool "double"
    args { n: input.n }
    output doubled
    next plus
  }
  node plus {
    kind function
    function "add_one"
    output result
  }
}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "registry.toml").write_text(REGISTRY)
    (root / "api_helpers_14.py").write_text(HELPERS)
    (root / "flow.rag").write_text(FLOW)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the registry's folder is not the current directory
    return root


def test_run_loads_and_runs_with_tools_and_functions_from_the_registry_folder(project):
    result = ragc.run(project / "flow.rag", {"n": 20}, registry=project / "registry.toml", journal=None)
    assert result.status == "completed", result.error
    assert result.state["doubled"] == 40 and result.state["result"] == 41


def test_a_python_tool_alone_imports_from_the_registry_folder(project):
    # no [functions.*] entry puts the folder on sys.path first: the tool loader does it itself
    (project / "only_tool_14.py").write_text("def triple(n: int) -> int:\n    return 3 * n\n")
    (project / "registry.toml").write_text('[tools.triple]\npython = "only_tool_14:triple"\n')
    (project / "t.rag").write_text('graph t {\n  start a\n  channel v last\n  node a {\n    kind tool\n'
                                   '    tool "triple"\n    args { n: 5 }\n    output v\n  }\n}\n')
    result = ragc.run(project / "t.rag", {}, registry=project / "registry.toml", journal=None)
    assert result.status == "completed", result.error
    assert result.state["v"] == 15


def test_arun_from_async_code_journals_by_default(project):
    async def main():
        return await ragc.arun(project / "flow.rag", {"n": 1}, registry=project / "registry.toml",
                               run_id="api-1")

    result = anyio.run(main)
    assert result.status == "completed" and result.run_id == "api-1"
    assert (Path.cwd() / ".ragc" / "runs.sqlite").is_file()


def test_run_raises_ragc_error_with_diagnostics(project):
    (project / "bad.rag").write_text(FLOW.replace('tool "double"', 'tool "dubble"'))
    with pytest.raises(ragc.RagcError) as err:
        ragc.run(project / "bad.rag", {"n": 1}, registry=project / "registry.toml", journal=None)
    assert [d.code for d in err.value.diagnostics] == ["E0107"]
    assert "did you mean `double`?" in err.value.render()


def test_run_and_arun_are_exported():
    assert {"run", "arun"} <= set(ragc.__all__)
