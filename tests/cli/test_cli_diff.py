"""``ragc diff`` on real files (issue 13, point 1): a sixth ``send`` branch
and a changed payload are listed, in text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import ragc

ROOT = Path(__file__).resolve().parents[2]


def test_diff_lists_a_sixth_branch_and_a_changed_payload(tmp_path):
    old = (ROOT / "workflows" / "quorum_review.rag").read_text()
    new = old.replace('focus: "docs" }', 'focus: "docs" },\n      reviewer { diff: input.diff, focus: "api" }')
    new = new.replace('"style"', '"naming"')
    (tmp_path / "old.rag").write_text(old)
    (tmp_path / "new.rag").write_text(new)
    reg = str(ROOT / "registry.toml")
    r = ragc("diff", "old.rag", "new.rag", "--registry", reg, cwd=tmp_path)
    assert r.code == 0, r.err
    body = r.out.splitlines()[2:]
    assert '  + dispatch -> reviewer [send (agent) {diff: input.diff, focus: "api"} -> reviews]' in body
    assert '  + dispatch -> reviewer [send (agent) {diff: input.diff, focus: "naming"} -> reviews]' in body
    assert '  - dispatch -> reviewer [send (agent) {diff: input.diff, focus: "style"} -> reviews]' in body
    j = json.loads(ragc("diff", "old.rag", "new.rag", "--format", "json", "--registry", reg, cwd=tmp_path).out)
    assert j["format_version"] == 2 and j["changed"] is True
    (node,) = j["nodes"]["changed"]
    assert node["node"] == "dispatch" and list(node["fields"]) == ["routing.branches"]
    same = ragc("diff", "old.rag", "old.rag", "--registry", reg, cwd=tmp_path)
    assert same.out.splitlines()[-1] == "no changes"
