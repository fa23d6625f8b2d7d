"""Every workflow in ``workflows/`` passes ``ragc check`` against the
repository registry with no errors and no warnings, is canonically
formatted (``ragc fmt --check``), and has a test module here."""

from __future__ import annotations

import json
from pathlib import Path

from wfkit import REGISTRY_TOML, REPO, WORKFLOWS, ragc_cli

FILES = sorted(WORKFLOWS.glob("*.rag"))
EXPECTED = {"approval_flow", "map_reduce", "plan_and_execute", "quorum_review", "react_agent", "research_review",
            "triage", "repl_analyst"}


def test_the_workflows_are_all_there():
    assert EXPECTED <= {f.stem for f in FILES}


def test_ragc_check_reports_no_errors_and_no_warnings():
    proc = ragc_cli("check", "--format", "json", "--registry", str(REGISTRY_TOML), *map(str, FILES), cwd=REPO)
    report = json.loads(proc.stdout)
    assert report["diagnostics"] == [] and report["summary"] == {"errors": 0, "warnings": 0}
    assert proc.returncode == 0, proc.stderr
    proc = ragc_cli("check", "workflows/", cwd=REPO)  # the directory form, registry found as ./registry.toml
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"checked {len(FILES)} files, no problems" in proc.stdout + proc.stderr


def test_ragc_fmt_check_passes():
    proc = ragc_cli("fmt", "--check", "workflows/", cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = ragc_cli("fmt", "--check", *map(str, FILES), cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_workflow_has_a_test_module():
    here = Path(__file__).parent
    missing = [f.name for f in FILES if not (here / f"test_wf_{f.stem}.py").is_file()]
    assert missing == []
