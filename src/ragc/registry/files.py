"""Reading the files a registry names (``[graphs.*] path``, an agent's
``system_file``, ``AGENT.md``/``TOOLS.md``, a scripted model's ``script``)
with the care of the file tools: regular files only, bounded in size, no
NUL bytes in the name or the text.

Without it a FIFO there blocks ``ragc check`` forever, ``/dev/zero`` reads
until the memory runs out, and a NUL byte in the name is a ``ValueError``.
The file is opened ``O_NONBLOCK | O_NOCTTY`` (opening a FIFO does not wait
for a writer; a terminal does not become ours) and judged by ``fstat`` of
what was opened, so a name swapped after a check gains nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_REFERENCED_BYTES = 4 * 1024 * 1024
"""The largest file a registry may name (4 MiB: a workflow, a prompt or a
script; a larger one is a mistake or an attack)."""


class ReferencedFileError(Exception):
    """A file the registry names cannot be used; ``str()`` is one line
    (``"is a FIFO (named pipe), not a regular file"``) and ``missing`` says
    whether it simply does not exist."""

    def __init__(self, reason: str, *, missing: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _problem(st: os.stat_result, max_bytes: int) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        return f"is {kind}, not a regular file" if kind != "not a regular file" else "is not a regular file"
    if st.st_size > max_bytes:
        return f"is {st.st_size} bytes, more than the {max_bytes} a registry file may have"
    return None


def check_referenced(path: str | os.PathLike[str], *, max_bytes: int = MAX_REFERENCED_BYTES) -> None:
    """Judge ``path`` without reading it (``stat`` only: never blocks).

    Raises:
        ReferencedFileError: a NUL byte in the name, missing (``missing``),
            not a regular file, or larger than ``max_bytes``.
    """
    if "\x00" in os.fspath(path):
        raise ReferencedFileError("has a NUL byte in its name")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ReferencedFileError("not found", missing=True) from None
    except OSError as e:
        raise ReferencedFileError(f"cannot be read: {e.strerror or e}") from None
    problem = _problem(st, max_bytes)
    if problem:
        raise ReferencedFileError(problem)


def read_referenced_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_REFERENCED_BYTES) -> bytes:
    """The bytes of the file at ``path`` (module docs), at most ``max_bytes``.

    Raises:
        ReferencedFileError: as :func:`check_referenced`, judged on the
            opened file; or the text has a NUL byte (a binary file).
    """
    if "\x00" in os.fspath(path):
        raise ReferencedFileError("has a NUL byte in its name")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise ReferencedFileError("not found", missing=True) from None
    except OSError as e:
        raise ReferencedFileError(f"cannot be read: {e.strerror or e}") from None
    try:
        problem = _problem(os.fstat(fd), max_bytes)  # of what was opened, before any read
    except OSError as e:
        os.close(fd)
        raise ReferencedFileError(f"cannot be read: {e.strerror or e}") from None
    if problem:
        os.close(fd)
        raise ReferencedFileError(problem)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        raise ReferencedFileError(f"is more than the {max_bytes} bytes a registry file may have")
    nul = data.find(b"\x00")
    if nul != -1:
        raise ReferencedFileError(f"has a NUL byte at byte {nul} (a binary file?)")
    return data


def read_referenced_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_REFERENCED_BYTES) -> str:
    """The UTF-8 text of the file at ``path`` (:func:`read_referenced_bytes`).

    Raises:
        ReferencedFileError: as :func:`read_referenced_bytes`, or not UTF-8.
    """
    data = read_referenced_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ReferencedFileError(f"is not valid UTF-8 (byte {e.start})") from None


def describe(path: str | os.PathLike[str]) -> str:
    """``path`` for a message: NUL bytes shown as ``\\0``."""
    return str(Path(os.fspath(path).replace("\x00", "\\0")))
