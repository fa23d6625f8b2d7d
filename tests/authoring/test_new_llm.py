"""``ragc new`` end to end on the embedded model (marked ``llm``: minutes on
2 cores): the file it writes passes ``ragc check``, is refused by ``ragc run
--untrusted`` until ``ragc approve`` records it, and its IR has the task's
properties. One short goal, so the test stays short."""

from __future__ import annotations

import shutil

import pytest
from tasks import TASKS
from wfkit import REGISTRY_TOML, REPO, ragc_cli

from ragc.compiler import compile_file
from ragc.registry.loader import load_registry

pytestmark = [pytest.mark.llm, pytest.mark.authoring_llm]
pytest.importorskip("llama_cpp", reason="ragc[local] (llama-cpp-python) is not installed")
pytest.importorskip("llguidance", reason="llguidance is not installed")


@pytest.mark.timeout(1200)  # up to three rounds of a 1.5B model on 2 cores
def test_ragc_new_writes_a_checked_untrusted_workflow(tmp_path):
    shutil.copy(REGISTRY_TOML, tmp_path / "registry.toml")
    if (REPO / ".agents").is_dir():
        shutil.copytree(REPO / ".agents", tmp_path / ".agents")
    task = next(t for t in TASKS if t.id == "read_then_summarise")
    out = tmp_path / "flow.rag"
    p = ragc_cli("new", task.goal, "-o", str(out), "--rounds", "2", cwd=tmp_path, timeout=3000)
    assert p.returncode == 0, p.stdout + p.stderr
    assert out.is_file() and "writing" in p.stderr            # progress was shown
    assert "ragc approve" in p.stdout and "tool read_file" in p.stdout  # capability summary
    assert ragc_cli("check", "--untrusted", str(out), cwd=tmp_path).returncode == 0
    reg = load_registry(tmp_path / "registry.toml", cwd=tmp_path).registry
    program = compile_file(out, reg, untrusted=True).program
    fidelity = task.fidelity(program)
    assert sum(fidelity.values()) >= len(fidelity) - 1, fidelity
    refused = ragc_cli("run", "--untrusted", "--no-ask", str(out), "--input", "path=README.md", cwd=tmp_path)
    assert refused.returncode == 2 and "not approved" in refused.stderr
    assert ragc_cli("approve", str(out), cwd=tmp_path).returncode == 0
