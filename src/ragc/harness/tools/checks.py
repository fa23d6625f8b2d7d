"""Acceptance checks: the built-in tool ``run_checks``.

A task is complete when its acceptance checks pass, never because a model
said so. ``run_checks`` runs a list of checks in the workspace and reports
each one's outcome; a workflow routes or records on ``passed``
(``workflows/plan_and_execute.rag`` marks a task complete only then).

A check is an object of one of two shapes:

* ``{"file": PATH}``: ``PATH`` is a regular file of the workspace;
  ``{"file": PATH, "contains": TEXT}``: and its text contains ``TEXT``
  (exactly, after both sides' line ends are normalised to ``\\n``).
* ``{"command": COMMAND}``: ``COMMAND`` runs through the ``run_command``
  built-in, so under the same policy (allow list, confinement, timeout,
  output cap), and exits with ``exit_code`` (default 0);
  ``{"command": COMMAND, "expect": TEXT}``: and the words and numbers of
  ``TEXT`` appear in its standard output, in that order (:func:`expect_matches`:
  case, whitespace and punctuation are ignored, so ``"0, 1, 1, 2"`` matches
  the lines ``0``, ``1``, ``1``, ``2``).

The tool's ``value`` is ``{"passed": bool, "results": [{"check", "passed",
"detail"}]}``; ``passed`` is false for an empty list (nothing was checked).
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any, Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from ragc.harness.errors import ToolError
from ragc.harness.tools.sandbox import Workspace
from ragc.harness.types import ToolResult

MAX_CHECKS = 20
"""Checks per call at most."""

MAX_DETAIL_CHARS = 600
"""Characters of a failed check's output kept in its ``detail``."""

_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


class Check(BaseModel):
    """One acceptance check (shapes in the module doc)."""

    model_config = ConfigDict(extra="ignore")

    file: str | None = Field(None, description="A workspace file that must exist.")
    contains: str | None = Field(None, description="Text the file must contain.")
    command: str | None = Field(None, description="A command that must succeed (run like run_command).")
    expect: str | None = Field(None, description="Words and numbers the command's output must show, in order.")
    exit_code: int = Field(0, description="The exit code the command must return.")

    def describe(self) -> str:
        """The check in one line, for results and task criteria."""
        if self.command:
            text = f"`{self.command}` exits {self.exit_code}"
            return text + (f" and prints {self.expect!r}" if self.expect else "")
        if self.file:
            return f"{self.file} exists" + (f" and contains {self.contains!r}" if self.contains else "")
        return "(empty check)"


class RunChecksArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checks: list[Check] = Field(description="The checks to run, in order.", max_length=MAX_CHECKS)


def expect_matches(expect: str, output: str) -> bool:
    """Do the words and numbers of ``expect`` occur in ``output`` in order
    (as a subsequence of its tokens; lower-cased; a token is a run of letters
    and digits, a decimal number kept whole)?"""
    want = _TOKEN.findall(expect.lower())
    have = iter(_TOKEN.findall(output.lower()))
    return all(any(tok == got for got in have) for tok in want)


RunCommand = Callable[[Any], Awaitable[ToolResult]]
"""The ``run_command`` tool's ``invoke`` (takes its validated arguments)."""


MAX_CHECKED_FILE_BYTES = 8 * 1024 * 1024
"""The most of a file a ``{file, contains}`` check reads."""


def _read_checked_file(ws: Workspace, path: str) -> str | None:
    """The text of the regular file ``path`` (opened without a race:
    :meth:`Workspace.open_file`), ``None`` when there is none.

    Raises:
        SandboxError: the path leads outside the workspace.
    """
    try:
        fd, _ = ws.open_file(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        return fh.read(MAX_CHECKED_FILE_BYTES).decode("utf-8", errors="replace")


MAX_SEARCHED_ENTRIES = 2000
"""How many directory entries :func:`same_name_elsewhere` looks at, at most
(a check must stay cheap in a big workspace)."""


def same_name_elsewhere(ws: Workspace, path: str, *, limit: int = 3) -> list[str]:
    """Workspace-relative paths of regular files named like ``path``'s last
    component but elsewhere, for a missing-file check's hint.

    A small model that saw an absolute path in an error often writes the file
    one folder too deep (``ws-demo/count.py`` for ``count.py``) and then
    rewrites it there on every attempt, because "does not exist" does not say
    where its file went. Hidden folders are skipped; the walk stops after
    :data:`MAX_SEARCHED_ENTRIES` entries and never follows symlinks.

    Args:
        ws: the workspace.
        path: the missing file, relative to the workspace root.
        limit: at most this many paths are returned, sorted.
    """
    name = os.path.basename(path.rstrip("/"))
    wanted = os.path.normpath(path)
    if not name:
        return []
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(ws.root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        seen += len(dirnames) + len(filenames)
        if name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), ws.root)
            if rel != wanted and os.path.isfile(os.path.join(dirpath, name)):
                found.append(rel)
        if seen > MAX_SEARCHED_ENTRIES or len(found) >= limit:
            break
    return sorted(found)[:limit]


def command_failure(code: Any, expected_code: int, stdout: str, stderr: str, expect: str | None) -> str:
    """What a failed command check tells the worker, most telling part first:
    the exit code, the error (a Python traceback's exception line and the
    source line it points at, which a head-truncated stderr would cut off),
    what the command printed and what it must print.

    Args:
        code: the exit code (``None`` when it did not run).
        expected_code: the exit code the check wants.
        stdout / stderr: the command's output (text).
        expect: the tokens the output must show, in order (or ``None``).
    """
    parts = []
    if code != expected_code:
        parts.append(f"exit code {code}, expected {expected_code}")
    error = _error_summary(stderr)
    if error:
        parts.append(f"error: {error}")
    shown = stdout.strip()
    parts.append(f"it printed {shown[:240]!r}" + (" [...]" if len(shown) > 240 else "") if shown
                 else "it printed nothing")
    if expect:
        parts.append(f"it must print {expect!r}")
    return "; ".join(parts)


def _error_summary(stderr: str) -> str:
    """The exception line of a Python traceback with its innermost source
    location (``IndexError: ... (at fib.py line 11: n = int(sys.argv[1]))``),
    or the last lines of any other error output."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        where = ""
        for i in range(len(lines) - 1, -1, -1):
            m = re.match(r'\s*File "([^"]+)", line (\d+)', lines[i])
            if m:
                source = lines[i + 1].strip() if i + 1 < len(lines) - 1 else ""
                where = f" (at {m.group(1).rsplit('/', 1)[-1]} line {m.group(2)}" + (f": {source}" if source else "") + ")"
                break
        return lines[-1].strip() + where
    tail = " / ".join(ln.strip() for ln in lines[-3:])
    return tail[-300:]


async def run_checks(ws: Workspace, args: RunChecksArgs, run_command: RunCommand, command_args: type) -> ToolResult:
    """Run ``args.checks`` in order; every check runs (one failing does not
    stop the rest), so the worker sees all that is missing.

    Args:
        ws: the workspace the file checks look in.
        args: the checks.
        run_command: the ``run_command`` tool's ``invoke`` (so commands run
            under its policy and sandbox).
        command_args: its arguments model (``RunCommandArgs``).

    Returns:
        A :class:`ToolResult` whose ``value`` is ``{"passed", "results"}``;
        ``is_error`` is never set (a failed check is a result, not a tool
        failure).
    """
    results: list[dict[str, Any]] = []
    for check in args.checks:
        passed, detail = False, ""
        try:
            if check.command:
                res = await run_command(command_args(command=check.command))
                value = res.value if isinstance(res.value, dict) else {}
                code = value.get("exit_code")
                out = str(value.get("stdout") or "")
                if res.is_error and code is None:
                    detail = res.content
                elif code != check.exit_code or (check.expect and not expect_matches(check.expect, out)):
                    detail = command_failure(code, check.exit_code, out, str(value.get("stderr") or ""),
                                             check.expect)
                else:
                    passed, detail = True, f"exit code {code}"
            elif check.file:
                text = _read_checked_file(ws, check.file)
                if text is None:
                    detail = f"{check.file} does not exist"
                    elsewhere = same_name_elsewhere(ws, check.file)
                    if elsewhere:
                        detail += (f" (a file of that name is at {', '.join(elsewhere)}; paths are "
                                   "relative to the workspace root, the current directory)")
                elif check.contains is not None:
                    if check.contains.replace("\r\n", "\n") in text.replace("\r\n", "\n"):
                        passed, detail = True, "found"
                    else:
                        detail = f"{check.file} does not contain {check.contains!r}"
                else:
                    passed, detail = True, "exists"
            else:
                detail = "a check needs `file` or `command`"
        except ToolError as exc:
            detail = str(exc)
        except OSError as exc:
            detail = f"{check.file}: {exc.strerror or exc}"
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[:MAX_DETAIL_CHARS] + " [...]"
        results.append({"check": check.describe(), "passed": passed, "detail": detail})
    all_passed = bool(results) and all(r["passed"] for r in results)
    lines = [f"{'PASS' if r['passed'] else 'FAIL'} {r['check']}" + ("" if r["passed"] else f": {r['detail']}")
             for r in results] or ["no checks given: nothing was verified"]
    head = "all checks passed" if all_passed else "checks failed"
    return ToolResult(content=head + "\n" + "\n".join(lines), value={"passed": all_passed, "results": results})
