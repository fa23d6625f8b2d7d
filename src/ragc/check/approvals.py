"""Approvals of untrusted workflows: ``ragc approve`` records the SHA-256 of
the exact file a human reviewed; the runtime runs an untrusted workflow only
when :func:`is_approved` says its current content was approved.

Storage: ``.ragc/approvals.json`` under a root directory (the current
directory by default)::

    {"format_version": 1,
     "approvals": [{"sha256": "sha256:<hex>", "path": "flows/x.rag",
                    "ir_hash": "sha256:<hex>", "approved_at": "2026-01-01T00:00:00Z"}],
     "generated": ["flows/new.rag"]}

Approval is by content: editing the file (even one byte) revokes it; moving
it keeps it. The file is rewritten atomically (temporary file and rename).

A file ``ragc new`` wrote is untrusted without being told so: it starts with
:data:`GENERATED_MARK` (a comment a reviewer sees), and ``ragc new`` also
records its path under ``generated`` in the same store, so deleting the
comment does not make it trusted. ``ragc check`` and ``ragc run`` treat such
a file as if ``--untrusted`` were given (:func:`is_generated`): checked and
run under ``[policies.untrusted]``, and run only once approved.
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
GENERATED_MARK = "// Written by `ragc new`"
"""How the first line of a file ``ragc new`` wrote begins."""


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
    data = _load(root)
    if not data:
        return []
    if not isinstance(data.get("approvals"), list):
        raise ApprovalError(f"`{_store(root)}` is not an approvals file (expected an object with `approvals`)")
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
    shown = _shown(path, root)
    record = {"sha256": digest, "path": shown, "ir_hash": ir_hash, "approved_at": when}
    approvals.append(record)
    _write(root, approvals, _load(root).get("generated", []))
    return record


def _load(root: str | Path | None) -> dict:
    store = _store(root)
    if not store.exists():
        return {}
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApprovalError(f"cannot read `{store}`: {e}") from None
    if not isinstance(data, dict):
        raise ApprovalError(f"`{store}` is not an approvals file (expected an object with `approvals`)")
    return data


def _write(root: str | Path | None, approvals: list[dict], generated: list) -> None:
    store = _store(root)
    data: dict = {"format_version": FORMAT_VERSION, "approvals": approvals}
    if generated:
        data["generated"] = generated
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store.parent, prefix=".approvals.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, store)
    except OSError as e:
        raise ApprovalError(f"cannot write `{store}`: {e}") from None


def _shown(path: str | Path, root: str | Path | None) -> str:
    base = Path(root) if root is not None else Path.cwd()
    try:
        return os.path.relpath(Path(path).resolve(), base.resolve())
    except ValueError:
        return str(Path(path).resolve())


def record_generated(path: str | Path, *, root: str | Path | None = None) -> None:
    """Record that ``ragc new`` wrote ``path`` (relative to ``root``, the
    directory holding ``.ragc/``; default the current one): it stays
    untrusted whatever its content becomes.

    Raises:
        ApprovalError: the approvals file cannot be read or written.
    """
    shown = _shown(path, root)
    data = _load(root)
    generated = [g for g in data.get("generated", []) if isinstance(g, str) and g != shown]
    generated.append(shown)
    _write(root, load_approvals(root), generated)


def is_generated(path: str | Path, *, root: str | Path | None = None) -> bool:
    """Whether ``ragc new`` wrote ``path``: its first line is
    :data:`GENERATED_MARK`, or its path is recorded under ``generated``.
    An unreadable approvals file counts as "generated" (when in doubt, a
    workflow nobody reviewed is untrusted); an unreadable ``path`` does not
    (reading it fails later, with its own error)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            if f.readline().startswith(GENERATED_MARK):
                return True
    except OSError:
        return False
    try:
        generated = _load(root).get("generated", [])
    except ApprovalError:
        return True
    return isinstance(generated, list) and _shown(path, root) in generated


def is_approved(path: str | Path, *, root: str | Path | None = None) -> bool:
    """Whether the current content of ``path`` was approved (by
    :func:`record_approval` under ``root``). ``False`` when the file or the
    approvals file cannot be read."""
    try:
        digest = file_sha256(path)
        return any(a.get("sha256") == digest for a in load_approvals(root))
    except (OSError, ApprovalError):
        return False
