"""Confinement of file and shell tools to a workspace root.

Every path a tool receives goes through :meth:`Workspace.resolve`: it is
joined to the root (relative paths) or taken as is (absolute paths), then
resolved with symlinks followed, and must land inside the root. So ``..``
escapes, absolute paths elsewhere and symlinks pointing outside the root are
all refused with a :class:`~ragc.harness.errors.ToolError` (kind
``sandbox``), whose message goes back to the model.

This is a guard against a model wandering off, not an operating-system jail:
``run_command`` runs real programs (see :mod:`ragc.harness.tools.builtins`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ragc.harness.errors import ToolError

IGNORED_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
                          ".pytest_cache", ".ruff_cache", ".tox"})
"""Directory names that recursive listing and search skip."""

VISIBLE_DOT_DIRS = frozenset({".agents", ".github", ".ci"})
"""Hidden directories that listing and search still enter (other ``.name``
directories are caches and tool state: skipped)."""


def skipped_dir(name: str) -> bool:
    """Do recursive listing and search skip a directory called ``name``?"""
    return name in IGNORED_DIRS or name.endswith(".egg-info") or (
        name.startswith(".") and name not in VISIBLE_DOT_DIRS)


class SandboxError(ToolError):
    """A path or command outside what the workspace allows."""

    kind = "sandbox"


class Workspace:
    """A root directory that file and shell tools may not leave.

    Args:
        root: the workspace root (made absolute and resolved once).
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def contains(self, path: Path) -> bool:
        """Is the resolved ``path`` the root or below it?"""
        return path == self.root or self.root in path.parents

    def resolve(self, path: str, *, must_exist: bool = False) -> Path:
        """The absolute, symlink-free path of ``path`` inside the workspace.

        Args:
            path: relative to the root, or absolute (then it must lie inside
                the root). ``""`` and ``"."`` mean the root.
            must_exist: raise if nothing exists there.

        Raises:
            SandboxError: the path (after following symlinks) is outside the
                root, or contains a NUL byte.
            ToolError: ``must_exist`` and the path does not exist; or the
                path cannot be resolved (a symlink loop, a name too long).
        """
        if "\x00" in path:
            raise SandboxError("path contains a NUL byte")
        try:
            raw = Path(path.strip() or ".").expanduser()
            candidate = raw if raw.is_absolute() else self.root / raw
            resolved = candidate.resolve(strict=False)
        except RuntimeError as exc:  # Python < 3.13: a symlink loop, or `~user` of no such user
            raise ToolError(f"`{path}` cannot be resolved: {exc}") from None
        except OSError as exc:
            raise ToolError(f"`{path}` cannot be resolved: {exc.strerror or exc}") from None
        if not self.contains(resolved):
            if candidate.is_symlink() or any(p.is_symlink() for p in candidate.parents if self.contains(p)):
                raise SandboxError(f"`{path}` is a symlink that points outside the workspace")
            raise SandboxError(f"`{path}` is outside the workspace (paths must stay under the workspace root)")
        try:
            exists = resolved.exists()
        except OSError as exc:
            raise ToolError(f"`{path}` cannot be accessed: {exc.strerror or exc}") from None
        if must_exist and not exists:
            raise ToolError(f"`{path}` does not exist", kind="not_found")
        return resolved

    def relative(self, path: Path) -> str:
        """``path`` (inside the root) relative to the root, with ``/`` separators."""
        rel = path.relative_to(self.root)
        return rel.as_posix() if rel.parts else "."

    def subdir(self, relative: str) -> "Workspace":
        """A narrower workspace rooted at ``relative`` (which must be inside this one).

        Raises:
            SandboxError: ``relative`` escapes this workspace.
        """
        return Workspace(self.resolve(relative))
