"""Approvals of untrusted workflows: ``ragc approve`` records the SHA-256 of
the exact file a human reviewed; the runtime runs an untrusted workflow only
when :func:`is_approved` says its current content was approved.

Storage: ``.ragc/approvals.json`` under a root directory (the current
directory by default)::

    {"format_version": 1,
     "approvals": [{"sha256": "sha256:<hex>", "path": "flows/x.rag",
                    "ir_hash": "sha256:<hex>", "approved_at": "2026-01-01T00:00:00Z"}]}

Approval is by content: editing the file (even one byte) revokes it; moving
it keeps it. The file is rewritten atomically (temporary file and rename).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from pathlib import Path

APPROVALS_PATH = Path(".ragc") / "approvals.json"
FORMAT_VERSION = 1


class ApprovalError(Exception):
    """The approvals file exists but cannot be read, parsed or written."""


def file_sha256(path: str | Path) -> str:
    """``sha256:<hex>`` of the file's bytes.

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _store(root: str | Path | None) -> Path:
    return (Path(root) if root is not None else Path.cwd()) / APPROVALS_PATH


def load_approvals(root: str | Path | None = None) -> list[dict]:
    """The recorded approvals (empty when there is no approvals file).

    Raises:
        ApprovalError: the file is unreadable or not in the format above.
    """
    store = _store(root)
    if not store.exists():
        return []
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApprovalError(f"cannot read `{store}`: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("approvals"), list):
        raise ApprovalError(f"`{store}` is not an approvals file (expected an object with `approvals`)")
    return [a for a in data["approvals"] if isinstance(a, dict) and isinstance(a.get("sha256"), str)]


def record_approval(path: str | Path, *, root: str | Path | None = None, ir_hash: str | None = None,
                    now: _dt.datetime | None = None) -> dict:
    """Record that the current content of ``path`` is approved.

    Args:
        path: the reviewed ``.rag`` file.
        root: the directory holding ``.ragc/`` (default: the current one).
        ir_hash: the compiled program's hash, kept for reference.
        now: the approval time (default: now, UTC).

    Returns:
        The record written.

    Raises:
        OSError: ``path`` cannot be read.
        ApprovalError: the approvals file cannot be read or written.
    """
    digest = file_sha256(path)
    approvals = [a for a in load_approvals(root) if a.get("sha256") != digest]
    when = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = Path(root) if root is not None else Path.cwd()
    try:
        shown = os.path.relpath(Path(path).resolve(), base.resolve())
    except ValueError:
        shown = str(Path(path).resolve())
    record = {"sha256": digest, "path": shown, "ir_hash": ir_hash, "approved_at": when}
    approvals.append(record)
    store = _store(root)
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store.parent, prefix=".approvals.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format_version": FORMAT_VERSION, "approvals": approvals}, f, indent=2)
            f.write("\n")
        os.replace(tmp, store)
    except OSError as e:
        raise ApprovalError(f"cannot write `{store}`: {e}") from None
    return record


def is_approved(path: str | Path, *, root: str | Path | None = None) -> bool:
    """Whether the current content of ``path`` was approved (by
    :func:`record_approval` under ``root``). ``False`` when the file or the
    approvals file cannot be read."""
    try:
        digest = file_sha256(path)
        return any(a.get("sha256") == digest for a in load_approvals(root))
    except (OSError, ApprovalError):
        return False
