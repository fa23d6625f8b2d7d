"""The operating-system sandbox of ``run_command``: bubblewrap (``bwrap``).

An argument allowlist cannot contain programs that run code (``python``,
``make``, ``git`` aliases, ``find -exec``), so commands run inside a
bubblewrap sandbox when the machine offers one, as Flatpak and Claude Code
do (bubblewrap: https://github.com/containers/bubblewrap, ``bwrap(1)``).
The sandbox built by :func:`wrap`:

* a new mount namespace whose root holds only the system directories
  (:data:`SYSTEM_DIRS`, read-only), the Python installation running ragc
  and the directories on ``PATH`` (read-only), the policy's extra
  ``read_only`` paths, a private ``/tmp`` and ``/dev``, a fresh ``/proc``
  and the workspace (read-write, or read-only by policy). Everything else
  (home directories, other projects, the journal) does not exist inside;
  the workspace's ``.ragc/`` (journal, approvals) is hidden and its
  ``.git/config`` and ``.git/hooks`` are read-only (the host runs them later);
* new user, PID, IPC, UTS, cgroup and network namespaces: no network unless
  the policy sets ``network = true``, and killing ``bwrap`` kills every
  process of the sandbox, including children that left the process group
  or started a new session (``--die-with-parent``; the command's PID 1 takes
  its whole PID namespace with it);
* a scrubbed environment (``--clearenv``): only :data:`PASSED_ENV` and the
  policy's ``env`` names pass (API keys do not);
* resource limits through ``prlimit(1)`` (util-linux): address space and
  CPU seconds (:func:`limit_prefix`), applied with or without bubblewrap.

:func:`status` (from :mod:`ragc.registry.host_sandbox`, where the registry
loader uses it for its warning) probes once per process whether ``bwrap``
exists and can create namespaces here (a container may forbid user
namespaces).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ragc.harness.tools.sandbox import HIDDEN_DIRS, HOST_EXECUTED
from ragc.registry.host_sandbox import SandboxStatus, status

__all__ = ["Limits", "SandboxStatus", "command_env", "limit_prefix", "status", "wrap"]

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
"""Mounted read-only inside the sandbox when they exist (symlinks such as
merged-``/usr``'s ``/bin -> usr/bin`` are recreated as symlinks)."""

PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
"""Environment variables a command sees besides ``PATH``, ``HOME``
(``/tmp`` inside the sandbox, the workspace without it) and ``TERM=dumb``;
a policy adds names with ``env = [...]``."""

@dataclass(frozen=True)
class Limits:
    """What a command may use.

    Attributes:
        memory_mb: address-space limit in MiB (``None``: none).
        cpu_seconds: CPU time limit in seconds (``None``: none).
        network: whether the sandbox keeps the host's network.
        writable: whether the workspace is writable inside.
        env: extra environment variable names passed through.
        read_only: extra host paths mounted read-only.
    """

    memory_mb: int | None = 4096
    cpu_seconds: int | None = None
    network: bool = False
    writable: bool = True
    env: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()


def command_env(home: str, extra: tuple[str, ...], path: str | None = None) -> dict[str, str]:
    """The scrubbed environment of a command: ``PATH`` (``path`` or ours),
    ``HOME``, ``TERM=dumb``, :data:`PASSED_ENV` and ``extra`` names that
    are set here, nothing else."""
    env = {"PATH": path if path is not None else os.environ.get("PATH", os.defpath), "HOME": home, "TERM": "dumb",
           "PYTHONDONTWRITEBYTECODE": "1"}
    for name in PASSED_ENV + tuple(extra):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def limit_prefix(limits: Limits) -> list[str]:
    """``prlimit --as=... --cpu=... --`` for ``limits`` (empty when none or
    when ``prlimit`` is not installed)."""
    exe = shutil.which("prlimit")
    args = []
    if limits.memory_mb:
        args.append(f"--as={limits.memory_mb * 1024 * 1024}")
    if limits.cpu_seconds:
        args.append(f"--cpu={limits.cpu_seconds}")
    return [exe, *args, "--"] if exe and args else []


def _program_dirs(workspace: Path) -> list[str]:
    """Host directories commands come from: the Python installation running
    ragc (a virtualenv and its base) and the directories on ``PATH``, except
    a ``PATH`` entry that is the home directory, contains it, or contains the
    workspace's parent (``PATH=~:...`` would otherwise show the whole home or
    the projects next to the workspace). For a ``PATH`` entry named
    ``shims`` (pyenv, rbenv, asdf) its parent, the version manager's root,
    is included too."""
    guarded = [str(Path.home().resolve()), str(workspace.parent)]

    def too_wide(real: str) -> bool:
        return real == "/" or any(g == real or g.startswith(real.rstrip("/") + "/") for g in guarded)

    dirs = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    path_dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and os.path.isabs(d)]
    # A version manager's shims (pyenv, rbenv, asdf: ROOT/shims/python3) are scripts that run
    # ROOT/libexec/... and ROOT/versions/...: without ROOT, `python3` exits 127 in the sandbox.
    path_dirs += [os.path.dirname(d.rstrip("/")) for d in path_dirs if os.path.basename(d.rstrip("/")) == "shims"]
    out: list[str] = []
    for d in dirs + path_dirs:
        try:
            real = str(Path(d).resolve(strict=True))
        except (OSError, RuntimeError):
            continue
        if d in path_dirs and d not in dirs and too_wide(real):
            continue
        if os.path.isdir(real) and real != "/" and real not in out:
            out.append(real)
    return out


def wrap(argv: list[str], *, workspace: Path, cwd: Path, limits: Limits, bwrap: str) -> tuple[list[str], dict[str, str]]:
    """The ``bwrap`` command line that runs ``argv`` in ``cwd`` inside the
    sandbox described in the module docs, and the environment to start
    ``bwrap`` with.

    Args:
        argv: the command (program resolved inside the sandbox on ``PATH``).
        workspace: the (resolved) workspace root, bound at the same path.
        cwd: the (resolved) working directory, inside ``workspace``.
        limits: the policy's limits.
        bwrap: the path of ``bwrap`` (from :func:`status`).
    """
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    if limits.network:
        args.append("--share-net")
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    program_dirs = _program_dirs(workspace)
    for d in program_dirs + [p for p in limits.read_only]:
        if any(d == s or d.startswith(s + "/") for s in SYSTEM_DIRS):
            continue  # already visible
        if os.path.exists(d):
            args += ["--ro-bind", d, d]
    ws = str(workspace)
    args += ["--bind" if limits.writable else "--ro-bind", ws, ws]
    for name in HIDDEN_DIRS:  # ragc's journal and approvals: not the command's business
        if os.path.isdir(os.path.join(ws, name)) and not os.path.islink(os.path.join(ws, name)):
            args += ["--tmpfs", os.path.join(ws, name)]
    for rel in HOST_EXECUTED:  # code the host runs later (git config, hooks): read-only
        p = os.path.join(ws, rel)
        if os.path.exists(p) and not os.path.islink(p) and not os.path.islink(os.path.dirname(p)):
            args += ["--ro-bind", p, p]
    args += ["--chdir", str(cwd)]
    inside_path = os.pathsep.join(d for d in os.environ.get("PATH", os.defpath).split(os.pathsep)
                                  if d and os.path.isdir(d))
    for key, value in command_env("/tmp", limits.env, inside_path).items():
        args += ["--setenv", key, value]
    return args + ["--", *limit_prefix(limits), *argv], {"PATH": os.environ.get("PATH", os.defpath)}
