"""The commands of ``ragc.cli.check`` through the installed ``ragc`` script
(real subprocesses): exit codes 0 (ok), 1 (diagnostics with errors), 2
(usage or I/O error), and the shape of their output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RAGC = Path(sys.executable).with_name("ragc")
SEED = ROOT / "tests" / "fixtures" / "seed_research_review.rag"
REGISTRY = HERE / "registry.toml"
CORPUS = HERE / "corpus"


def ragc(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([str(RAGC), *args], cwd=cwd or ROOT, env=full_env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A directory with the test registry as ./registry.toml and a copy of the seed."""
    shutil.copy(REGISTRY, tmp_path / "registry.toml")
    shutil.copytree(HERE / "graphs", tmp_path / "graphs")
    shutil.copy(SEED, tmp_path / "seed.rag")
    return tmp_path


def test_check_clean_file_exits_0(project):
    r = ragc("check", "seed.rag", cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "ok: checked 1 file, no problems\n"


def test_check_errors_exit_1_with_rustc_text(project):
    r = ragc("check", str(CORPUS / "unknown_node_next.rag"), cwd=project)
    assert r.returncode == 1
    assert "error[E0101]: unknown node `reviw`" in r.stdout
    assert r.stdout.rstrip().endswith("error: aborting due to 1 error (checked 1 file)")


def test_check_warnings_only_exit_0(project):
    r = ragc("check", str(CORPUS / "unreachable_node.rag"), cwd=project)
    assert r.returncode == 0
    assert "warning[W0303]" in r.stdout and "warning: 1 warning emitted (checked 1 file)" in r.stdout


def test_check_directory_json(project):
    (project / "flows").mkdir()
    shutil.copy(CORPUS / "unknown_model.rag", project / "flows" / "a.rag")
    shutil.copy(SEED, project / "flows" / "b.rag")
    r = ragc("check", "flows", "--format", "json", cwd=project)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["format_version"] == 1
    assert doc["summary"] == {"errors": 1, "warnings": 0}
    (d,) = doc["diagnostics"]
    assert d["code"] == "E0106" and d["file"].endswith("a.rag")
    assert d["range"]["start"] == {"line": 7, "column": 11}


def test_check_untrusted(project):
    path = str(CORPUS / "untrusted_tool.rag")
    assert ragc("check", path, cwd=project).returncode == 0
    r = ragc("check", "--untrusted", path, cwd=project)
    assert r.returncode == 1 and "E0601" in r.stdout


def test_check_missing_path_exits_2(project):
    r = ragc("check", "nope.rag", cwd=project)
    assert r.returncode == 2
    assert r.stderr.startswith("error: no such file or directory: `nope.rag`")


def test_check_missing_registry_exits_2(project):
    r = ragc("check", "seed.rag", "--registry", "missing.toml", cwd=project)
    assert r.returncode == 2 and "cannot read registry" in r.stderr


def test_check_broken_registry_is_reported_with_its_location(project):
    (project / "registry.toml").write_text('[models.default]\nprovider = "local"\nthreads = "two"\n')
    r = ragc("check", "seed.rag", cwd=project)
    assert r.returncode == 1
    assert "error[E0803]: invalid value for `threads` in `[models.default]`: expected an integer" in r.stdout
    assert " --> registry.toml:3:11" in r.stdout


def test_check_without_registry_warns(tmp_path):
    (tmp_path / "x.rag").write_text('graph g {\n  start a\n  node a { kind interrupt  prompt "Go?" }\n}\n')
    r = ragc("check", "x.rag", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("warning[W0801]: no registry found; checking against an empty registry\n")


def test_graph_mermaid_and_dot(project):
    r = ragc("graph", "seed.rag", cwd=project)
    assert r.returncode == 0 and r.stdout.startswith("flowchart TD\n")
    assert '-.->|"send"|' in r.stdout
    r = ragc("graph", "seed.rag", "--format", "dot", cwd=project)
    assert r.returncode == 0 and r.stdout.startswith('digraph "research_review" {')


def test_graph_and_compile_refuse_files_with_errors(project):
    bad = str(CORPUS / "loop_without_exit.rag")
    for cmd in ("graph", "compile"):
        r = ragc(cmd, bad, cwd=project)
        assert r.returncode == 1 and r.stdout == ""
        assert "error[E0305]" in r.stderr


def test_compile_prints_stable_hashed_ir(project):
    a = ragc("compile", "seed.rag", cwd=project)
    b = ragc("compile", "seed.rag", cwd=project)
    assert a.returncode == 0 and a.stdout == b.stdout
    ir = json.loads(a.stdout)
    assert ir["entry"] == "research_review" and ir["hash"].startswith("sha256:")


def test_compile_unknown_graph(project):
    r = ragc("compile", "seed.rag", "--graph", "research", cwd=project)
    assert r.returncode == 1 and "error[E0117]: no graph `research`" in r.stderr


def test_explain(project):
    r = ragc("explain", "E0501")
    assert r.returncode == 0 and r.stdout.startswith("E0501: write conflict")
    r = ragc("explain", "e0101")
    assert r.returncode == 0 and r.stdout.startswith("E0101: unknown node")
    r = ragc("explain")
    assert r.returncode == 0 and "E0407  skippable join source is not optional" in r.stdout


def test_explain_unknown_code_exits_2():
    r = ragc("explain", "E0510")
    assert r.returncode == 2
    assert "unknown diagnostic code `E0510`" in r.stderr and "did you mean" in r.stderr


def test_diff_text_and_json(project):
    new = SEED.read_text().replace('tools ["search", "read_repo"]', 'tools ["search", "read_repo", "write_file"]')
    new = new.replace("next END", "next publish") .replace("\n}\n}", "\n}\nnode publish {\nkind model\n}\n}")
    (project / "new.rag").write_text(new)
    r = ragc("diff", "seed.rag", "new.rag", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "  + publish (model)" in r.stdout
    assert "  + review -> publish" in r.stdout
    assert "  + tool write_file" in r.stdout
    r = ragc("diff", "seed.rag", "new.rag", "--format", "json", cwd=project)
    d = json.loads(r.stdout)
    assert d["capabilities"]["tools"] == {"added": ["write_file"], "removed": []}
    assert d["changed"] is True


def test_diff_of_identical_files(project):
    r = ragc("diff", "seed.rag", "seed.rag", cwd=project)
    assert r.returncode == 0 and r.stdout.endswith("no changes\n")


def test_approve_records_the_hash(project):
    flow = project / "flow.rag"
    flow.write_text(SEED.read_text())
    r = ragc("approve", "flow.rag", cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((project / ".ragc" / "approvals.json").read_text())
    (rec,) = data["approvals"]
    from ragc.check.approvals import file_sha256, is_approved

    assert rec["path"] == "flow.rag" and rec["sha256"] == file_sha256(flow)
    assert is_approved(flow, root=project)


def test_approve_refuses_files_with_untrusted_errors(project):
    shutil.copy(CORPUS / "untrusted_tool.rag", project / "flow.rag")
    r = ragc("approve", "flow.rag", cwd=project)
    assert r.returncode == 1 and "E0601" in r.stderr
    assert not (project / ".ragc" / "approvals.json").exists()
