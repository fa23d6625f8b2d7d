"""The argument checks of ``run_command``: the second line behind the OS
sandbox (:mod:`ragc.harness.tools.os_sandbox`).

They catch the obvious ways a model wanders off before anything runs, and
they are all there is on a machine without bubblewrap; they cannot contain
a program that runs code (a Makefile, a Python script), which is why the
sandbox is the first line. Checked here:

* the program must be on the allowlist, and so must every program a
  sub-command option names (``find -exec``/``-execdir``/``-ok``/``-okdir``,
  ``xargs``, ``env``, ``nice``, ``timeout``...): ``find -exec sh`` is
  refused unless ``sh`` is allowed;
* every argument, the value of ``--opt=value`` and every tail of a glued
  short option (``-C../outside``, ``-sC..``) must resolve inside the
  workspace (symlinks followed);
* options that follow symlinks out of a tree (``find -L``/``-H``/
  ``-follow``, ``grep -R``) are refused: ``grep -r`` and plain ``find``
  stay inside;
* ``git`` may not set configuration on its command line (``-c``,
  ``--config-env``, ``--exec-path``) or run ``git config`` writes, which
  is how an alias (``alias.x=!sh ...``) runs arbitrary commands.

Raises :class:`~ragc.harness.tools.sandbox.SandboxError` with a message the
model can act on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ragc.harness.tools.sandbox import SandboxError, Workspace

SUBCOMMAND_OPTIONS = {
    "find": ("-exec", "-execdir", "-ok", "-okdir"),
}
"""Options whose next argument is a program to run (up to ``;`` or ``+``)."""

WRAPPER_PROGRAMS = frozenset({"xargs", "env", "nice", "nohup", "timeout", "stdbuf", "setsid", "time", "command",
                              "exec", "sudo", "doas", "chroot", "unshare", "nsenter", "flock", "watch", "strace",
                              "ltrace", "busybox"})
"""Programs whose arguments contain another program: allowed only when the
allowlist names them, and then the program they run is checked too."""

REFUSED_OPTIONS = {
    "find": {"-L": "it follows symlinks out of the workspace", "-H": "it follows symlinks out of the workspace",
             "-follow": "it follows symlinks out of the workspace"},
    "grep": {"-R": "it follows symlinks out of the workspace (use -r)",
             "--dereference-recursive": "it follows symlinks out of the workspace (use -r)"},
    "git": {"-c": "it sets configuration (an alias can run any command)",
            "--config-env": "it sets configuration (an alias can run any command)",
            "--exec-path": "it chooses the programs git runs",
            "--upload-pack": "it names a program to run", "--receive-pack": "it names a program to run"},
}
"""Options refused per program (exact, or as the head of a glued short
option such as ``-RIn``), with the reason shown to the model."""

_NUMBER = re.compile(r"^\+?\d+(\.\d+)?[smhd]?$")

GIT_CONFIG_READS = frozenset({"--get", "--get-all", "--get-regexp", "--list", "-l", "--show-origin", "--name-only"})


def _short_option_letters(arg: str) -> str:
    """The letters of a glued short option ``-abc`` (``""`` for others)."""
    return arg[1:] if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" else ""


def _refused(program: str, arg: str) -> str | None:
    table = REFUSED_OPTIONS.get(program)
    if not table:
        return None
    if arg in table:
        return table[arg]
    head = arg.split("=", 1)[0]
    if head in table:
        return table[head]
    if program == "grep":
        letters = _short_option_letters(arg)
        if "R" in letters and not arg.startswith("--"):
            return table["-R"]
    if program == "git" and arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
        return table["-c"]
    return None


def check_allowed(program: str, allow: tuple[str, ...] | None) -> None:
    """Refuse ``program`` (a bare name or a path) unless ``allow`` permits it.

    Raises:
        SandboxError: not on the allowlist.
    """
    name = os.path.basename(program)
    if allow is not None and name not in allow and not ("/" in program and program in allow):
        raise SandboxError(f"`{name}` is not an allowed program (allowed: {', '.join(allow) or 'none'})")


def check_path_arguments(ws: Workspace, cwd: Path, argv: list[str]) -> None:
    """Refuse arguments that name a path outside the workspace (``cat
    /etc/passwd``, ``ls ../..``, ``cat link/passwd`` through a symlink that
    leads out, ``make -C../x``). Every argument, the value of
    ``--opt=value`` and every tail of a glued short option are resolved as
    paths from ``cwd`` with symlinks followed; text that is not meant as a
    path resolves inside ``cwd`` and passes.

    Raises:
        SandboxError: an argument resolves outside the workspace.
    """
    for arg in argv[1:]:
        candidates = [arg]
        if arg.startswith("-") and "=" in arg:
            candidates.append(arg.split("=", 1)[1])
        letters = _short_option_letters(arg)
        if letters:
            # `-C../x`, `-sC../x`: the value may start after any option letter
            candidates += [arg[i:] for i in range(2, len(arg))]
        for c in candidates:
            if not c:
                continue
            try:
                p = Path(c).expanduser()
                resolved = (p if p.is_absolute() else cwd / p).resolve(strict=False)
            except (RuntimeError, OSError, ValueError):
                # `~user` of no such user, a symlink loop, a NUL byte
                if c.startswith(("/", "~")):
                    raise SandboxError(f"argument `{arg}` points outside the workspace") from None
                continue
            if not ws.contains(resolved):
                raise SandboxError(f"argument `{arg}` points outside the workspace")


def check_command(ws: Workspace, cwd: Path, argv: list[str], allow: tuple[str, ...] | None) -> None:
    """All checks of the module docs for the command ``argv`` run in ``cwd``.

    Args:
        ws: the workspace.
        cwd: the resolved working directory (inside ``ws``).
        argv: the command split into words (``shlex.split``).
        allow: the allowlist (``None``: any program).

    Raises:
        SandboxError: the command is refused (the message says why).
    """
    _check(ws, cwd, argv, allow, depth=0)


def _check(ws: Workspace, cwd: Path, argv: list[str], allow: tuple[str, ...] | None, depth: int) -> None:
    if depth > 4:
        raise SandboxError("too many nested sub-commands")
    program = argv[0]
    check_allowed(program, allow)
    name = os.path.basename(program)
    for arg in argv[1:]:
        why = _refused(name, arg)
        if why:
            raise SandboxError(f"`{name} {arg}` is not allowed: {why}")
    if name == "git":
        _check_git(argv)
    check_path_arguments(ws, cwd, argv)
    subs = SUBCOMMAND_OPTIONS.get(name, ())
    i = 1
    while i < len(argv):
        if argv[i] in subs:
            end = i + 1
            while end < len(argv) and argv[end] not in (";", "+"):
                end += 1
            sub = argv[i + 1:end]
            if not sub:
                raise SandboxError(f"`{name} {argv[i]}` without a program")
            _check(ws, cwd, [w for w in sub if w != "{}"] or sub, allow, depth + 1)
            i = end
        i += 1
    if name in WRAPPER_PROGRAMS:
        # the wrapped program: the first word that is no option, no `VAR=value`
        # (env) and no number or duration (timeout, nice)
        for i, a in enumerate(argv[1:], start=1):
            if a.startswith("-") or "=" in a or _NUMBER.match(a):
                continue
            _check(ws, cwd, argv[i:], allow, depth + 1)
            break


def _check_git(argv: list[str]) -> None:
    words = [a for a in argv[1:] if not a.startswith("-")]
    if words and words[0] == "config":
        opts = set(argv[argv.index("config") + 1:])
        if not (opts & GIT_CONFIG_READS):
            raise SandboxError("`git config` may only read configuration (an alias can run any command)")
