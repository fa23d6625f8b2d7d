"""The built-in tools, with the argument shapes of the seed Rustagent.

=================== ================================================ =============================================
tool                arguments                                        ``value`` (JSON, for state)
=================== ================================================ =============================================
``read_file``       ``{path}``                                       the file's text
``write_file``      ``{path, content}``                              ``{"path", "bytes"}``
``list_files``      ``{path, recursive}``                            list of paths relative to the workspace root
``search``          ``{query, path?, max_results?}``                 list of ``{"path", "line", "text"}``
``run_command``     ``{command, working_dir?}``                      ``{"exit_code", "stdout", "stderr", "timed_out"}``
``signal_completion`` ``{signal: "complete"|"blocked", message?, reason?}`` the signal object
``run_checks``      ``{checks: [{file, contains?} | {command, expect?, exit_code?}]}`` ``{"passed", "results"}``
=================== ================================================ =============================================

All paths are confined to the workspace (:mod:`ragc.harness.tools.sandbox`).
``config`` keys a registry entry may set (``[tools.NAME] config = {...}``):

* file tools (``read_file``, ``write_file``, ``list_files``, ``search``):
  ``root`` (a subdirectory of the workspace that confines this tool further);
  ``read_file``: ``max_bytes`` (default 1 MiB); ``list_files``:
  ``max_entries`` (default 1000); ``search``: ``max_results`` (upper bound,
  default 200), ``max_file_bytes`` (files larger are skipped, default 2 MiB).
* ``run_command``: ``allow`` (program names; narrows the policy's allowlist),
  ``timeout`` (seconds, or a duration such as ``"30s"``), ``max_output_bytes``.

``run_command`` splits the command with :func:`shlex.split` (no shell: no
pipes, redirections or variable expansion), checks the program name against
the allowlist, refuses path arguments that point outside the workspace, runs
the program in its own process group in ``working_dir``, caps stdout and
stderr at ``max_output_bytes`` each, and kills the whole group on timeout or
cancellation.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
import os
import re
import secrets
import shlex
import shutil
import stat
import signal as _signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from anyio.abc import ByteReceiveStream
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragc.harness.errors import ConfigError, ToolError
from ragc.harness.tools import checks, command_check, os_sandbox, passages
from ragc.harness.tools.base import Tool
from ragc.harness.tools.sandbox import SandboxError, Workspace, skipped_dir
from ragc.harness.types import ToolResult
from ragc.registry.model import RunCommandPolicy
from ragc.syntax.strings import duration_seconds

BINARY_SNIFF_BYTES = 8192


class _Args(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReadFileArgs(_Args):
    path: str = Field(description="Path of the file, relative to the workspace root.")


class WriteFileArgs(_Args):
    path: str = Field(description="File path relative to the workspace root; parent directories are created.")
    content: str = Field(description="The complete new text of the file.")


class ListFilesArgs(_Args):
    path: str = Field(".", description="Directory relative to the workspace root (default: the root).")
    recursive: bool = Field(False, description="List files in subdirectories too.")


class SearchArgs(_Args):
    query: str = Field(min_length=1, description="Text to look for (case-insensitive).")
    path: str = Field(".", description="Directory or file to search in (default: the whole workspace).")
    max_results: int = Field(20, ge=1, description="Maximum number of matching lines to return.")


class RunCommandArgs(_Args):
    command: str = Field(min_length=1, description="The command line: a program and its arguments (no shell).")
    working_dir: str = Field(".", description="Directory to run in, relative to the workspace root.")


class SignalCompletionArgs(_Args):
    signal: Literal["complete", "blocked"] = Field(description="`complete` when the task is done, `blocked` when it cannot go on.")
    message: str | None = Field(None, description="What was done (with `complete`).")
    reason: str | None = Field(None, description="Why the task is blocked (with `blocked`).")

    @model_validator(mode="after")
    def _reason_for_blocked(self) -> "SignalCompletionArgs":
        if self.signal == "blocked" and not (self.reason or self.message):
            raise ValueError("a `blocked` signal needs a `reason`")
        return self


DEFAULT_DESCRIPTIONS = {
    "read_file": "Read a text file of the workspace.",
    "write_file": "Write (create or overwrite) a text file of the workspace.",
    "list_files": "List the files of a workspace directory.",
    "search": "Search the workspace's text files for a word or phrase; returns matching lines as path:line: text.",
    "run_command": "Run a command (allowlisted programs only, no shell) and return its exit code and output.",
    "signal_completion": "Say the current task is complete, or blocked and why.",
    "run_checks": "Run acceptance checks (files that must exist, commands that must succeed) and report each outcome.",
}

BUILTIN_NAMES = frozenset(DEFAULT_DESCRIPTIONS)

_CONFIG_KEYS = {
    "read_file": {"root", "max_bytes"},
    "write_file": {"root"},
    "list_files": {"root", "max_entries"},
    "search": {"root", "max_results", "max_file_bytes", "mode", "exclude"},
    "run_command": {"allow", "timeout", "max_output_bytes"},
    "signal_completion": set(),
    "run_checks": {"allow", "timeout", "max_output_bytes"},
}


def _is_binary(head: bytes) -> bool:
    return b"\x00" in head


# --------------------------------------------------------------------------- file tools


MISSING_FILE_HINT = "a file your task creates must be written first, with write_file"
"""Said with a ``read_file`` of a missing file: a small model otherwise gives
up (``blocked: fib.py does not exist``) on the file its task is to write."""

MAX_SUGGESTIONS = 3
SUGGESTION_SCAN = 5000
"""Files looked at (at most) for a missing file's namesakes."""


def _namesakes(ws: Workspace, path: str) -> list[str]:
    """Workspace files with the base name of ``path`` (a small model writes
    ``src/runtime.md`` for ``docs/runtime.md``), at most
    :data:`MAX_SUGGESTIONS`, found in the first :data:`SUGGESTION_SCAN` files."""
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        return []
    found: list[str] = []
    for p in itertools.islice(_iter_text_files(ws, ws.root, 1 << 62), SUGGESTION_SCAN):
        if p.name == name:
            found.append(ws.relative(p))
            if len(found) >= MAX_SUGGESTIONS:
                break
    return found


def _read_file(ws: Workspace, args: ReadFileArgs, max_bytes: int) -> ToolResult:
    """Read a text file, opened without a race (:meth:`Workspace.open_file`):
    regular files only (``O_NONBLOCK`` so a FIFO does not block the open),
    at most ``max_bytes``."""
    try:
        fd, rel = ws.open_file(args.path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        near = _namesakes(ws, args.path)
        hint = f"did you mean {' or '.join(near)}?" if near else MISSING_FILE_HINT
        raise ToolError(f"`{args.path}` does not exist ({hint})", kind="not_found") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"`{args.path}` is a directory; use list_files to see its files")
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise ToolError(f"`{args.path}` is not a regular file")
        data = fh.read(max_bytes + 1)
    if _is_binary(data[:BINARY_SNIFF_BYTES]):
        raise ToolError(f"`{args.path}` is a binary file, not text")
    truncated = len(data) > max_bytes
    text = data[:max_bytes].decode("utf-8", errors="replace")
    content = text + (f"\n[... file truncated at {max_bytes} bytes]" if truncated else "")
    return ToolResult(content=content, value=text, sources=[rel])


def _write_file(ws: Workspace, args: WriteFileArgs) -> ToolResult:
    """Write a file atomically: a temporary file created ``O_EXCL |
    O_NOFOLLOW`` in the parent directory (opened without a race, missing
    directories made on the way), then renamed over the name, both relative
    to the parent's file descriptor."""
    try:
        dir_fd, name, rel = ws.open_parent(args.path, create=True)
    except SandboxError:
        raise
    except FileExistsError:
        raise ToolError(f"`{args.path}`: a file stands where a directory is needed") from None
    except NotADirectoryError:
        raise ToolError(f"`{args.path}`: a file stands where a directory is needed") from None
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise ToolError(f"`{args.path}` is a directory")
        mode = stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) else None
        data = args.content.encode("utf-8")
        # O_EXCL | O_NOFOLLOW and a random name: never write through a symlink or a
        # file planted at a predictable name, and concurrent writes do not collide
        tmp = f".{name}.ragc-tmp-{secrets.token_hex(6)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if mode is not None:
                    os.fchmod(fh.fileno(), mode)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
    finally:
        os.close(dir_fd)
    return ToolResult(content=f"wrote {len(data)} bytes to {rel}", value={"path": rel, "bytes": len(data)})


def _list_files(ws: Workspace, args: ListFilesArgs, max_entries: int) -> ToolResult:
    """List a directory opened without a race (:meth:`Workspace.open_dir`),
    walked by descriptor (:func:`os.fwalk`, symlinked directories not
    entered); symlinks that lead outside are left out."""
    try:
        top, rel = ws.open_dir(args.path)
    except FileNotFoundError:
        raise ToolError(f"`{args.path}` does not exist", kind="not_found") from None
    except NotADirectoryError:
        raise ToolError(f"`{args.path}` is a file, not a directory") from None
    base = ws.root if rel == "." else ws.root / rel

    def shown(p: Path) -> bool:  # a symlink is listed only when it stays inside
        try:
            return not p.is_symlink() or ws.contains(p.resolve())
        except (OSError, RuntimeError):
            return False

    entries: list[str] = []
    truncated = False
    try:
        if args.recursive:
            for dirpath, dirnames, filenames, _fd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not skipped_dir(d))
                here = base / dirpath
                for fn in sorted(filenames):
                    p = here / fn
                    if not shown(p):
                        continue
                    entries.append(ws.relative(Path(os.path.normpath(p))))
                    if len(entries) >= max_entries:
                        truncated = True
                        break
                if truncated:
                    break
        else:
            with os.scandir(top) as it:
                children = sorted(it, key=lambda e: e.name)
            for entry in children:
                p = base / entry.name
                if not shown(p):
                    continue
                entries.append(ws.relative(p) + ("/" if entry.is_dir() else ""))
                if len(entries) >= max_entries:
                    truncated = True
                    break
    finally:
        os.close(top)
    lines = entries or ["(empty directory)"]
    content = "\n".join(lines)
    if truncated:
        content += f"\n[... listing truncated at {max_entries} entries]"
    return ToolResult(content=content, value=entries)


def _excluded(rel: str, exclude: tuple[str, ...]) -> bool:
    """Does a workspace-relative path match one of the ``exclude`` globs
    (:func:`fnmatch.fnmatchcase`; a pattern naming a directory excludes what
    is below it)?"""
    return any(fnmatch.fnmatchcase(rel, pat) or rel.startswith(pat.rstrip("/") + "/") for pat in exclude)


def _iter_text_files(ws: Workspace, base: Path, max_file_bytes: int, exclude: tuple[str, ...] = ()):
    if base.is_file():
        if base.stat().st_size <= max_file_bytes:
            yield base
        return
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not skipped_dir(d)
                             and not (exclude and _excluded(ws.relative(Path(dirpath) / d), exclude)))
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if exclude and _excluded(ws.relative(p), exclude):
                continue
            try:
                if p.is_symlink() and not ws.contains(p.resolve()):
                    continue
                if not p.is_file() or p.stat().st_size > max_file_bytes:
                    continue
            except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
                continue
            yield p


MAX_MATCH_LINE = 500
"""Lines longer than this (characters: data, minified code) never match."""

BM25_K1, BM25_B = 1.2, 0.75
"""Okapi BM25's usual parameters (Robertson and Zaragoza, "The Probabilistic
Relevance Framework: BM25 and Beyond", 2009): term-frequency saturation and
document-length normalisation."""

_STOPWORDS = frozenset("a an and are as at be by does do for from how in is it of on or the to what when where "
                       "which who why with after before into that this these those there their its was were has have "
                       "can will would should could about happens happen".split())


MAX_LINES_PER_FILE = 3
"""Matching lines shown per file, so results span several files (the rest
are counted per file in the reply)."""

MAX_SEARCH_FILES = 20_000
"""Files read by one search at most (a bound for huge workspaces)."""


@dataclass
class _FileHits:
    """The matches of one file: exact-phrase lines, lines sharing enough of
    the query's words (``(words matched, line, text)``), and the file's
    relevance score."""

    path: str
    length: int
    exact: list[tuple[int, str]] = field(default_factory=list)
    partial: list[tuple[int, int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    score: float = 0.0


def _search(ws: Workspace, args: SearchArgs, limit: int, max_file_bytes: int,
            exclude: tuple[str, ...] = ()) -> ToolResult:
    """Find lines matching the query and rank them by how much their file is
    about the query.

    Matching: lines with the exact phrase; when no line has it, lines with
    all of its words; when none has all, lines with at least half of its
    (non-trivial) words, at least two and at most three needed, the lines
    sharing the most words first within each file.

    Lines longer than :data:`MAX_MATCH_LINE` characters (data, minified
    code) never match.

    Ranking: files by their Okapi BM25 score for the query's words (see
    :data:`BM25_K1`; ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` over the
    N files read, lengths in characters), so a file about a rare query word
    comes before one that mentions it in passing, and a huge data file does
    not win by size; ties by path. At most :data:`MAX_LINES_PER_FILE` lines a
    file, in line order, up to ``max_results`` lines."""
    base = ws.resolve(args.path, must_exist=True)
    wanted = min(args.max_results, limit)
    needle = " ".join(args.query.lower().split())
    words = list(dict.fromkeys(w for w in re.findall(r"\w+", needle) if len(w) > 2 and w not in _STOPWORDS))
    scored_words = words or [needle]
    quorum = max(2, min(3, math.ceil(len(words) / 2)))  # a long question: any line with three of its words
    files: list[_FileHits] = []
    doc_freq: dict[str, int] = {}
    n_files = 0
    for p in itertools.islice(_iter_text_files(ws, base, max_file_bytes, exclude), MAX_SEARCH_FILES):
        data = _read_listed(ws, p, max_file_bytes)
        if data is None or _is_binary(data[:BINARY_SNIFF_BYTES]):
            continue
        n_files += 1
        text = data.decode("utf-8", errors="replace")
        low_text = text.lower()
        counts = {w: c for w in scored_words if (c := low_text.count(w))}
        for w in counts:
            doc_freq[w] = doc_freq.get(w, 0) + 1
        if not counts:
            continue
        hits = _FileHits(ws.relative(p), len(text), counts=counts)
        for lineno, line in enumerate(text.splitlines(), start=1):
            if len(line) > MAX_MATCH_LINE:
                continue
            low = line.lower()
            if needle in " ".join(low.split()):
                hits.exact.append((lineno, line.strip()[:200]))
            elif len(words) >= 2:
                shared = sum(1 for w in words if w in low)
                if shared >= quorum:
                    hits.partial.append((shared, lineno, line.strip()[:200]))
        if hits.exact or hits.partial:
            files.append(hits)
    total_length = sum(f.length for f in files)
    average = total_length / len(files) if files else 1.0
    for f in files:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * f.length / average)
        f.score = sum(math.log(1 + (n_files - doc_freq[w] + 0.5) / (doc_freq[w] + 0.5)) * c * (BM25_K1 + 1) / (c + norm)
                      for w, c in f.counts.items())
    note = ""
    exact = any(f.exact for f in files)
    if exact:
        chosen = [f for f in files if f.exact]
        lines_of = {f.path: f.exact for f in chosen}
    else:
        # Every file with a line sharing enough words competes on its BM25
        # score; within a file, its lines sharing the most words. (Keeping only
        # the files whose best line shares the most words overall would let a
        # line that merely restates the question, in a changelog or a
        # transcript, beat the file that is about it.)
        chosen = [f for f in files if f.partial]
        lines_of = {f.path: [(ln, t) for _, ln, t in sorted(f.partial, key=lambda hit: (-hit[0], hit[1]))]
                    for f in chosen}
        if chosen:
            best = max(shared for f in chosen for shared, _, _ in f.partial)
            how = "all of" if best == len(words) else f"at least {quorum} of"
            note = f"(no line contains the exact phrase; lines with {how} its words {', '.join(words)}, best files first)\n"
    chosen.sort(key=lambda f: (-f.score, f.path))
    matches: list[dict[str, Any]] = []
    more_in_file: dict[str, int] = {}
    truncated = 0
    for f in chosen:
        lines = lines_of[f.path]
        room = wanted - len(matches)
        if room <= 0:
            truncated += len(lines)
            continue
        shown = sorted(lines[: min(MAX_LINES_PER_FILE, room)])  # the best lines, in line order
        matches.extend({"path": f.path, "line": ln, "text": t} for ln, t in shown)
        if len(lines) > len(shown):
            more_in_file[f.path] = len(lines) - len(shown)
    if not matches:
        return ToolResult(content=f"no matches for {args.query!r}", value=[])
    content = note + "\n".join(f"{m['path']}:{m['line']}: {m['text']}" for m in matches)
    sources = list(dict.fromkeys(m["path"] for m in matches))
    if more_in_file:
        content += "\n(more matching lines in: " + ", ".join(
            f"{path} (+{n})" for path, n in more_in_file.items()) + ")"
    if truncated:
        content += f"\n[... stopped at {wanted} matches; {truncated} more lines in other files]"
    return ToolResult(content=content, value=matches, sources=sources)


_PASSAGE_CACHE: dict[str, tuple[int, int, list[passages.Passage]]] = {}
"""Passages per absolute file path, with the ``(mtime_ns, size)`` they were cut from."""


def _read_listed(ws: Workspace, p: Path, max_bytes: int) -> bytes | None:
    """The bytes of a file a walk listed, opened again without a race
    (:meth:`Workspace.open_file`): ``None`` when it is gone, is no longer a
    regular file, leads outside or has grown past ``max_bytes``."""
    try:
        fd, _ = ws.open_file(ws.relative(p), os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ToolError, ValueError):
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        data = fh.read(max_bytes + 1)
    return data if len(data) <= max_bytes else None


def _file_passages(ws: Workspace, p: Path, max_bytes: int = 1 << 62) -> list[passages.Passage]:
    st = p.stat()
    key = str(p)
    hit = _PASSAGE_CACHE.get(key)
    if hit is not None and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
        return hit[2]
    data = _read_listed(ws, p, max_bytes)
    if data is None:
        return []
    cut = [] if _is_binary(data[:BINARY_SNIFF_BYTES]) else passages.split(ws.relative(p), data.decode("utf-8", "replace"))
    if len(_PASSAGE_CACHE) > 4096:
        _PASSAGE_CACHE.clear()
    _PASSAGE_CACHE[key] = (st.st_mtime_ns, st.st_size, cut)
    return cut


def _search_passages(ws: Workspace, args: SearchArgs, limit: int, max_file_bytes: int,
                     exclude: tuple[str, ...]) -> ToolResult:
    """``search`` in ``mode = "passages"``: the best sections of docs and
    definitions of code for the query (:mod:`ragc.harness.tools.passages`),
    at most ``min(max_results, limit)`` of them, each with its path, line
    range and heading."""
    base = ws.resolve(args.path, must_exist=True)
    pool: list[passages.Passage] = []
    for p in itertools.islice(_iter_text_files(ws, base, max_file_bytes, exclude), MAX_SEARCH_FILES):
        try:
            pool.extend(_file_passages(ws, p, max_file_bytes))
        except OSError:
            continue
    best = passages.rank(pool, args.query, min(args.max_results, limit))
    if not best:
        return ToolResult(content=f"no passages match {args.query!r}", value=[])
    blocks = []
    value = []
    for n, (_, psg) in enumerate(best, start=1):
        text = psg.text()
        where = f"{psg.path}:{psg.start}-{psg.end}"
        blocks.append(f"[{n}] {where}" + (f" ({psg.heading})" if psg.heading else "") + f"\n{text}")
        value.append({"path": psg.path, "line": psg.start, "end_line": psg.end, "heading": psg.heading, "text": text})
    return ToolResult(content="\n\n".join(blocks), value=value, sources=list(dict.fromkeys(v["path"] for v in value)))


# --------------------------------------------------------------------------- run_command


async def _drain(stream: ByteReceiveStream | None, buf: bytearray, cap: int, counter: list[int]) -> None:
    if stream is None:
        return
    async for chunk in stream:
        counter[0] += len(chunk)
        room = cap - len(buf)
        if room > 0:
            buf.extend(chunk[:room])


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, _signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _run_command(ws: Workspace, args: RunCommandArgs, allow: tuple[str, ...] | None, timeout_s: float,
                       max_output: int, policy: RunCommandPolicy | None = None) -> ToolResult:
    """Run one command: the checks of :mod:`~ragc.harness.tools.command_check`,
    then the program inside the OS sandbox (:mod:`~ragc.harness.tools.os_sandbox`)
    unless the policy turns it off, with a scrubbed environment and limits.

    Raises:
        SandboxError: the command is refused, or the policy requires the
            sandbox and this machine has none.
        ToolError: unparsable command, bad working directory, program not found.
    """
    policy = policy or RunCommandPolicy()
    try:
        argv = shlex.split(args.command)
    except ValueError as exc:
        raise ToolError(f"cannot parse the command: {exc}") from None
    if not argv:
        raise ToolError("empty command")
    program = argv[0]
    name = os.path.basename(program)
    command_check.check_allowed(program, allow)
    cwd = ws.resolve(args.working_dir, must_exist=True)
    if not cwd.is_dir():
        raise ToolError(f"working_dir `{args.working_dir}` is not a directory")
    if "/" in program:
        exe = (Path(program) if Path(program).is_absolute() else cwd / program).resolve(strict=False)
        if not ws.contains(exe):
            raise SandboxError(f"program `{program}` is outside the workspace; use the bare program name")
        # An allowed name means the program found on PATH; a workspace file of
        # that name (one the model may have written) runs only when the
        # allowlist names its path.
        rel = ws.relative(exe)
        if allow is not None and not (program in allow or f"./{rel}" in allow or ("/" in rel and rel in allow)):
            raise SandboxError(f"`{program}` is a workspace file, not the allowed program `{name}`; "
                               f"use the bare name, or allow the path `./{rel}` in the policy")
    command_check.check_command(ws, cwd, argv, allow)
    limits = os_sandbox.Limits(memory_mb=policy.memory_mb, cpu_seconds=policy.cpu_seconds, network=policy.network,
                               writable=policy.workspace == "read-write", env=tuple(policy.env),
                               read_only=tuple(policy.read_only))
    mode = policy.sandbox or "auto"
    jail = os_sandbox.status() if mode != "off" else None
    if mode == "require" and not (jail and jail.available):
        raise SandboxError(f"this policy runs commands only in the OS sandbox, and there is none here: "
                           f"{jail.reason if jail else 'sandbox off'}")
    # found and executable here, so a missing program is a clear error rather
    # than an exit code of bwrap or prlimit
    exe_path = str(cwd / program) if "/" in program else shutil.which(program)
    if exe_path is None or not os.path.exists(exe_path):
        raise ToolError(f"command not found: `{program}`", kind="not_found")
    if not os.access(exe_path, os.X_OK) or os.path.isdir(exe_path):
        raise ToolError(f"`{program}` is not executable")
    if jail is not None and jail.available:
        assert jail.bwrap is not None
        launch, env = os_sandbox.wrap(argv, workspace=ws.root, cwd=cwd, limits=limits, bwrap=jail.bwrap)
    else:
        launch, env = os_sandbox.limit_prefix(limits) + argv, os_sandbox.command_env(str(ws.root), limits.env)

    stdout, stderr = bytearray(), bytearray()
    out_total, err_total = [0], [0]
    timed_out = False
    try:
        process = await anyio.open_process(launch, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, start_new_session=True, env=env)
    except FileNotFoundError:
        raise ToolError(f"command not found: `{program}`", kind="not_found") from None
    except PermissionError:
        raise ToolError(f"`{program}` is not executable") from None
    try:
        with anyio.move_on_after(timeout_s) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_drain, process.stdout, stdout, max_output, out_total)
                tg.start_soon(_drain, process.stderr, stderr, max_output, err_total)
            await process.wait()
        if scope.cancelled_caught:
            timed_out = True
    finally:
        if process.returncode is None:
            _kill_group(process.pid)
            with anyio.CancelScope(shield=True):
                await process.wait()
        else:
            _kill_group(process.pid)  # stray children left in the group
        with anyio.CancelScope(shield=True):
            await process.aclose()

    exit_code = process.returncode if not timed_out else -9
    out_text = stdout.decode("utf-8", errors="replace")
    err_text = stderr.decode("utf-8", errors="replace")
    value = {"exit_code": exit_code, "stdout": out_text, "stderr": err_text, "timed_out": timed_out}
    parts = [f"exit code: {exit_code}" + (f" (killed after the {timeout_s:g}s timeout)" if timed_out else "")]
    for label, text, total in (("stdout", out_text, out_total[0]), ("stderr", err_text, err_total[0])):
        if text or total:
            note = f"\n[... {label} truncated: {max_output} of {total} bytes kept]" if total > max_output else ""
            parts.append(f"{label}:\n{text}{note}")
    return ToolResult(content="\n".join(parts), value=value, is_error=timed_out)


# --------------------------------------------------------------------------- construction


async def _in_thread(fn: Any, ws: Workspace, args: Any, *rest: Any, abandon: bool) -> ToolResult:
    """Run the file tool ``fn(ws, args, *rest)`` in a worker thread.

    ``abandon``: a cancelled or timed-out call returns at once and the thread
    finishes in the background (for tools that only read); otherwise the call
    waits for the thread. An ``OSError`` (permission denied, a name too long...)
    becomes a :class:`ToolError` the model can act on, not an internal error
    that counts against the tool's circuit breaker.
    """
    try:
        return await anyio.to_thread.run_sync(fn, ws, args, *rest, abandon_on_cancel=abandon)
    except OSError as exc:
        raise ToolError(f"`{getattr(args, 'path', '')}`: {exc.strerror or exc}") from None


def _positive_int(config: dict[str, Any], key: str, default: int, tool: str) -> int:
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"tool `{tool}`: config `{key}` must be a positive integer, not {value!r}")
    return value


def make_builtin(builtin: str, *, name: str, workspace: Workspace, description: str | None = None,
                 config: dict[str, Any] | None = None, timeout_s: float | None = 60.0,
                 run_policy: RunCommandPolicy | None = None) -> Tool:
    """Build the built-in tool ``builtin`` under the registry name ``name``.

    Args:
        builtin: one of :data:`BUILTIN_NAMES`.
        name: the name the model calls it by (an alias such as ``read_repo``).
        workspace: the root the tool is confined to.
        description: shown to the model (default: the built-in's own).
        config: the registry entry's ``config`` (keys per tool: module doc).
        timeout_s: the registry entry's per-call timeout in seconds.
        run_policy: the policy's ``run_command`` limits (allowlist, timeout,
            output cap); ``None``: no allowlist, 60 s, 64 KiB.

    Raises:
        ConfigError: unknown built-in, unknown or invalid config key, or a
            ``root`` outside the workspace.
    """
    config = dict(config or {})
    if builtin not in BUILTIN_NAMES:
        raise ConfigError(f"tool `{name}`: unknown builtin `{builtin}`",
                          hint=f"use one of: {', '.join(sorted(BUILTIN_NAMES))}")
    unknown = set(config) - _CONFIG_KEYS[builtin]
    if unknown:
        raise ConfigError(f"tool `{name}`: unknown config key(s) {', '.join(sorted(unknown))} for builtin `{builtin}`",
                          hint=f"allowed: {', '.join(sorted(_CONFIG_KEYS[builtin])) or 'none'}")
    ws = workspace
    if "root" in config:
        try:
            ws = workspace.subdir(str(config["root"]))
        except SandboxError as exc:
            raise ConfigError(f"tool `{name}`: config root: {exc}") from None
    desc = description or DEFAULT_DESCRIPTIONS[builtin]

    def tool(args_model: type[BaseModel], invoke) -> Tool:
        return Tool(name=name, description=desc, args_model=args_model, invoke=invoke, timeout_s=timeout_s,
                    kind=f"builtin:{builtin}")

    if builtin == "read_file":
        max_bytes = _positive_int(config, "max_bytes", 1024 * 1024, name)

        async def read_file(args: ReadFileArgs) -> ToolResult:
            return await _in_thread(_read_file, ws, args, max_bytes, abandon=True)

        return tool(ReadFileArgs, read_file)
    if builtin == "write_file":
        async def write_file(args: WriteFileArgs) -> ToolResult:
            return await _in_thread(_write_file, ws, args, abandon=False)

        return tool(WriteFileArgs, write_file)
    if builtin == "list_files":
        max_entries = _positive_int(config, "max_entries", 1000, name)

        async def list_files(args: ListFilesArgs) -> ToolResult:
            return await _in_thread(_list_files, ws, args, max_entries, abandon=True)

        return tool(ListFilesArgs, list_files)
    if builtin == "search":
        mode = config.get("mode", "lines")
        if mode not in ("lines", "passages"):
            raise ConfigError(f"tool `{name}`: config `mode` must be \"lines\" or \"passages\", not {mode!r}")
        limit = _positive_int(config, "max_results", 200 if mode == "lines" else 3, name)
        max_file_bytes = _positive_int(config, "max_file_bytes", 2 * 1024 * 1024, name)
        exclude = config.get("exclude", [])
        if not isinstance(exclude, (list, tuple)) or not all(isinstance(x, str) and x for x in exclude):
            raise ConfigError(f"tool `{name}`: config `exclude` must be a list of path globs such as \"tests/*\"")
        exclude = tuple(x.strip("/") for x in exclude)
        run_search = _search if mode == "lines" else _search_passages

        async def search(args: SearchArgs) -> ToolResult:
            return await _in_thread(run_search, ws, args, limit, max_file_bytes, exclude, abandon=True)

        return tool(SearchArgs, search)
    if builtin == "run_checks":
        # commands of checks run through a run_command tool of the same policy and config
        runner = make_builtin("run_command", name=name, workspace=workspace, config=config, timeout_s=timeout_s,
                              run_policy=run_policy)

        async def run_checks(args: checks.RunChecksArgs) -> ToolResult:
            return await checks.run_checks(ws, args, runner.invoke, RunCommandArgs)

        t = tool(checks.RunChecksArgs, run_checks)
        t.timeout_s = runner.timeout_s * checks.MAX_CHECKS if runner.timeout_s else None
        return t
    if builtin == "run_command":
        policy = run_policy or RunCommandPolicy()
        # None: any program; a tuple: only those (empty: none at all)
        allow: tuple[str, ...] | None = policy.allow
        if "allow" in config:  # an empty list allows no program at all
            extra = config["allow"]
            if not isinstance(extra, (list, tuple)) or not all(isinstance(a, str) for a in extra):
                raise ConfigError(f"tool `{name}`: config `allow` must be a list of program names")
            allow = tuple(a for a in extra if allow is None or a in allow)
        raw_timeout = config.get("timeout", policy.timeout)
        try:
            if isinstance(raw_timeout, bool) or not isinstance(raw_timeout, (int, float, str)):
                raise ValueError
            cmd_timeout = duration_seconds(raw_timeout.strip()) if isinstance(raw_timeout, str) else float(raw_timeout)
        except ValueError:
            raise ConfigError(f"tool `{name}`: config `timeout` must be a number of seconds or a duration "
                              f"such as \"30s\", not {raw_timeout!r}") from None
        limits = [t for t in (cmd_timeout, policy.timeout, timeout_s) if t]
        cmd_timeout = min(limits) if limits else 60.0
        max_output = min(_positive_int(config, "max_output_bytes", policy.max_output_bytes, name),
                         policy.max_output_bytes)

        async def run_command(args: RunCommandArgs) -> ToolResult:
            return await _run_command(ws, args, allow, cmd_timeout, max_output, policy)

        # the command has its own timeout and kills its process group; the
        # registry's outer timeout only needs to be a little longer
        t = tool(RunCommandArgs, run_command)
        t.timeout_s = cmd_timeout + 5.0
        return t

    async def signal_completion(args: SignalCompletionArgs) -> ToolResult:
        value = args.model_dump(exclude_none=True)
        text = args.message or args.reason or ""
        return ToolResult(content=f"signal recorded: {args.signal}" + (f" ({text})" if text else ""),
                          value=json.loads(json.dumps(value)))

    return tool(SignalCompletionArgs, signal_completion)
