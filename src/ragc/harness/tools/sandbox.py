"""Confinement of file and shell tools to a workspace root.

Every path a tool receives goes through :meth:`Workspace.resolve`: it is
joined to the root (relative paths) or taken as is (absolute paths), then
resolved with symlinks followed, and must land inside the root. So ``..``
escapes, absolute paths elsewhere and symlinks pointing outside the root are
all refused with a :class:`~ragc.harness.errors.ToolError` (kind
``sandbox``), whose message goes back to the model.

The file tools open what they read and write with :meth:`Workspace.open_file`
and :meth:`Workspace.open_dir`: one component at a time from a directory
file descriptor of the root, each with ``O_NOFOLLOW`` (``openat(2)``
through ``os.open(..., dir_fd=...)``), following a symlink only after
checking where it leads. So the file that was checked is the file that is
opened: another process that swaps a name for a symlink to an outside file
between a check and an open gains nothing (a check-then-``open(path)``
follows whatever is there at that moment).

``run_command`` runs real programs; its OS sandbox is
:mod:`ragc.harness.tools.os_sandbox`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

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


HIDDEN_DIRS = (".ragc",)
"""Top-level workspace directories the tools never read or write: ragc's own
state (the journal, ``approvals.json``: an agent that could write it would
approve its own untrusted workflow). The OS sandbox hides them too."""

HOST_EXECUTED = (".git/config", ".git/hooks")
"""Workspace paths whose content the host runs later (a git alias or
``core.fsmonitor`` in the config, a hook on the user's next commit): the
file tools do not write under ``.git`` and the OS sandbox mounts these
read-only, so a command cannot plant code that runs outside the sandbox."""


def protected(rel: str, *, write: bool) -> str | None:
    """Why the workspace-relative path ``rel`` is out of bounds for a read
    (``write=False``) or a write, or ``None`` when it is not."""
    parts = rel.split("/")
    if parts[0] in HIDDEN_DIRS:
        return f"`{parts[0]}/` holds ragc's own state (journal, approvals)"
    if write and parts[0] == ".git":
        return "`.git/` is git's: a config or hook written there would run outside the sandbox"
    return None


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

    # ------------------------------------------------------------------ race-free opening

    def _parts(self, path: str) -> list[str]:
        if "\x00" in path:
            raise SandboxError("path contains a NUL byte")
        raw = path.strip() or "."
        if raw.startswith("~"):
            expanded = os.path.expanduser(raw)
            if expanded == raw:
                raise ToolError(f"`{path}` cannot be resolved: no such user")
            raw = expanded
        if os.path.isabs(raw):
            pure = PurePosixPath(os.path.normpath(raw))
            root = PurePosixPath(self.root)
            if pure != root and root not in pure.parents:
                raise SandboxError(f"`{path}` is outside the workspace (paths must stay under the workspace root)")
            return list(pure.relative_to(root).parts)
        return [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]

    def _walk(self, path: str, *, last: str, flags: int = 0, mode: int = 0o666, create_dirs: bool = False
              ) -> tuple[int, list[str]]:
        """Open ``path`` component by component (module docs).

        ``last``: ``"dir"`` (the path is a directory: its fd), ``"parent"``
        (the fd of its parent directory, created if ``create_dirs``; the
        name is the last item of the returned parts), or ``"file"`` (open
        the path itself with ``flags``). Returns ``(fd, parts)``, ``parts``
        being the workspace-relative components of what was opened.

        Raises:
            SandboxError: the path or a symlink on it leads outside.
            FileNotFoundError, NotADirectoryError, OSError: as ``open``.
        """
        todo = self._parts(path)
        if last == "parent":
            if not todo or todo[-1] == "..":
                raise SandboxError(f"`{path}` is not a file path")
            leaf = todo.pop()
        stack: list[tuple[int, str]] = []
        cur = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        hops = 0
        try:
            while todo:
                name = todo.pop(0)
                if name == "..":
                    if not stack:
                        raise SandboxError(f"`{path}` is outside the workspace (paths must stay under the "
                                           "workspace root)")
                    os.close(cur)
                    cur, _ = stack.pop()
                    continue
                final = not todo and last == "file"
                try:
                    if final:
                        fd = os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=cur)
                    else:
                        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=cur)
                except FileNotFoundError:
                    if final or not create_dirs:
                        raise
                    os.mkdir(name, 0o777, dir_fd=cur)
                    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=cur)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise
                    try:
                        st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                    except OSError:
                        raise exc from None
                    if not stat.S_ISLNK(st.st_mode):
                        raise
                    hops += 1
                    if hops > 40:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links") from None
                    target = os.readlink(name, dir_fd=cur)
                    if os.path.isabs(target):
                        try:
                            inside = self._parts(target)
                        except SandboxError:
                            raise SandboxError(f"`{path}` is a symlink that points outside the workspace") from None
                        while stack:  # restart from the root
                            os.close(cur)
                            cur, _ = stack.pop()
                        todo = inside + todo
                    else:
                        todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                    continue  # a `..` in the target is judged when it is reached
                stack.append((cur, name))
                cur = fd
            names = [n for _, n in stack]
            if last == "parent":
                names.append(leaf)
            if last == "file" and not names:
                # the root itself
                fd = os.open(".", flags, dir_fd=cur)
                os.close(cur)
                cur = fd
            return cur, names
        except BaseException:
            os.close(cur)
            raise
        finally:
            for fd, _ in stack:
                if fd != cur:
                    os.close(fd)

    def open_file(self, path: str, flags: int = os.O_RDONLY) -> tuple[int, str]:
        """Open the file at ``path`` without a race (module docs); returns
        ``(fd, workspace-relative path)``. The caller closes ``fd``.

        Raises:
            SandboxError: the path, or a symlink on it, leads outside.
            OSError: as ``open`` (``FileNotFoundError`` when missing).
        """
        fd, names = self._walk(path, last="file", flags=flags)
        rel = "/".join(names) or "."
        why = protected(rel, write=bool(flags & (os.O_WRONLY | os.O_RDWR)))
        if why:
            os.close(fd)
            raise SandboxError(f"`{path}` is not for tools: {why}")
        return fd, rel

    def open_dir(self, path: str, *, create: bool = False) -> tuple[int, str]:
        """The directory at ``path`` as a file descriptor (``create``: make
        missing directories), opened without a race; ``(fd, relative path)``.

        Raises:
            SandboxError, OSError: as :meth:`open_file`.
        """
        fd, names = self._walk(path + "/.", last="dir", create_dirs=create)
        return fd, "/".join(names) or "."

    def open_parent(self, path: str, *, create: bool = False) -> tuple[int, str, str]:
        """The parent directory of the file ``path`` as a file descriptor
        (``create``: make missing directories), its name in that directory,
        and the file's workspace-relative path.

        Raises:
            SandboxError, OSError: as :meth:`open_file`.
        """
        why = None
        try:
            why = protected("/".join(self._parts(path)), write=True)  # before any directory is made
        except ToolError:
            pass
        if why:
            raise SandboxError(f"`{path}` is not for tools: {why}")
        fd, names = self._walk(path, last="parent", create_dirs=create)
        why = protected("/".join(names), write=True)  # after symlinks
        if why:
            os.close(fd)
            raise SandboxError(f"`{path}` is not for tools: {why}")
        return fd, names[-1], "/".join(names)

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
