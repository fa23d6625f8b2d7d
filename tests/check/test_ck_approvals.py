"""``ragc.check.approvals``: content-addressed approvals of untrusted files."""

from __future__ import annotations

import json

import pytest

from ragc.check.approvals import ApprovalError, file_sha256, is_approved, load_approvals, record_approval


def test_record_then_approved_until_edited(tmp_path):
    f = tmp_path / "flow.rag"
    f.write_text("graph g { start a  node a { kind model } }\n")
    assert not is_approved(f, root=tmp_path)
    rec = record_approval(f, root=tmp_path, ir_hash="sha256:abc")
    assert rec["sha256"] == file_sha256(f) and rec["path"] == "flow.rag" and rec["ir_hash"] == "sha256:abc"
    assert is_approved(f, root=tmp_path)
    f.write_text(f.read_text() + "// one more comment\n")
    assert not is_approved(f, root=tmp_path)


def test_approval_follows_content_not_path(tmp_path):
    a = tmp_path / "a.rag"
    a.write_text("graph g { start a  node a { kind model } }\n")
    record_approval(a, root=tmp_path)
    b = tmp_path / "b.rag"
    b.write_bytes(a.read_bytes())
    assert is_approved(b, root=tmp_path)
    c = tmp_path / "c.rag"  # a new path with other content is not
    c.write_text("graph g { start b  node b { kind model } }\n")
    assert not is_approved(c, root=tmp_path)


def test_recording_twice_keeps_one_record(tmp_path):
    f = tmp_path / "flow.rag"
    f.write_text("x")
    record_approval(f, root=tmp_path)
    record_approval(f, root=tmp_path)
    assert len(load_approvals(tmp_path)) == 1
    data = json.loads((tmp_path / ".ragc" / "approvals.json").read_text())
    assert data["format_version"] == 1


def test_corrupt_store(tmp_path):
    f = tmp_path / "flow.rag"
    f.write_text("x")
    (tmp_path / ".ragc").mkdir()
    (tmp_path / ".ragc" / "approvals.json").write_text("{not json")
    assert not is_approved(f, root=tmp_path)
    with pytest.raises(ApprovalError):
        record_approval(f, root=tmp_path)


def test_missing_file_is_not_approved(tmp_path):
    assert not is_approved(tmp_path / "missing.rag", root=tmp_path)
    with pytest.raises(OSError):
        record_approval(tmp_path / "missing.rag", root=tmp_path)
