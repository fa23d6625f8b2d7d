"""The result cache of ``ragc check`` (as ``.ruff_cache``, ``.mypy_cache``).

A check that finds its answer here prints the stored output, byte for byte,
and exits with the stored status without importing the front end (lark,
pydantic, jinja2): what a check prints is a function of its inputs, and the
cache records every input.

Layout: ``.ragc/cache/check/<key>.json`` under the current directory (next
to the default journal, ``.ragc/runs.sqlite``). ``<key>`` hashes what is
known before checking (:func:`invocation_key`): ragc's version and the
size and mtime of every file of the installed ``ragc`` package, the Python
version and executable, the mtimes of ``sys.path``'s directories (an
upgraded dependency), the current directory, the command's paths and
options, and the encodings of stdout and stderr. The entry then lists what
the check turned out to depend on, recorded while it ran
(:class:`Recorder`):

* every file it opened or looked for, outside the Python installation and
  ragc's own package: its size and SHA-256 (or that it was absent, or a
  directory's sorted listing): the ``.rag`` files, the registry, the
  ``.agents/`` folders, skill files, ``.ragc/approvals.json``, the grammar,
  the ``bwrap`` binary the sandbox probe found, ...;
* every environment variable it read, with its value (or its absence);
  iterating the whole environment records all of it.

An entry is used only if every recorded dependency is as recorded, so an
edit anywhere the check looked, a changed option or environment variable
gives a fresh check, which rewrites the entry. Unreadable or malformed
entries are ignored (and rewritten); entries are written to a temporary file
and renamed over (``os.replace``), so concurrent writers never leave a torn
file. Not cached: ``--fix``, standard input (``-``), a run whose stdout or
stderr is a terminal or with ``--color always`` (colour and terminal
rendering are not reproduced), ``--no-cache`` or ``RAGC_NO_CACHE=1``, a
check that raised (a usage error), a check that started a process other
than the sandbox probe or opened a socket (an MCP server listed at check
time: its answer is no file), and a check in a process that had already
loaded the front end (its memoised reads would go unrecorded).

This module imports only the standard library's small modules: the warm
path must not pay for the front end.
"""

from __future__ import annotations

import json
import os
import stat as _stat_mod
import sys
from collections.abc import MutableMapping

TYPE_CHECKING = False  # typing is not imported on the warm path
if TYPE_CHECKING:
    from typing import Any

FORMAT = 1
"""Version of the entry layout; part of the key."""

CACHE_DIR = os.path.join(".ragc", "cache", "check")
"""Where entries live, relative to the current directory."""

MAX_HASHED = 16 * 1024 * 1024
"""Files larger than this (bytes) are fingerprinted by size and mtime only."""

ENV_ALWAYS = ("RAGC_SANDBOX", "PATH", "HOME", "XDG_CONFIG_HOME", "NO_COLOR")
"""Variables recorded even if the check did not read them in this process
(the sandbox probe and the registry search are memoised per process)."""

FRONT_END = ("ragc.compiler", "ragc.registry.loader", "ragc.registry.host_sandbox", "ragc.registry.agents_md",
             "ragc.syntax.grammar", "ragc.skills")
"""Modules whose presence before a check means some reads are memoised: no entry is stored."""

try:  # the built-in module: hashlib would load OpenSSL (2 ms) first
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import sha256 as _sha256

_real_stat = os.stat
_real_lstat = os.lstat
_recording: "Recorder | None" = None
_hook_installed = False


def disabled(no_cache_flag: bool) -> bool:
    """Whether the cache is switched off: ``--no-cache`` (``no_cache_flag``)
    or ``RAGC_NO_CACHE`` set to anything but ``""`` or ``"0"``."""
    return no_cache_flag or os.environ.get("RAGC_NO_CACHE", "") not in ("", "0")


def reproducible(color: str) -> bool:
    """Whether the output can be replayed exactly: neither stdout nor stderr
    is a terminal and ``color`` (the ``--color`` setting) is not ``always``."""
    if color == "always":
        return False
    for stream in (sys.stdout, sys.stderr):
        isatty = getattr(stream, "isatty", None)
        if isatty is None or isatty():
            return False
    return True


# --------------------------------------------------------------------------- fingerprints


def _sha(data: bytes) -> str:
    return _sha256(data).hexdigest()


def fingerprint(path: str, listed: bool = False) -> list | None:
    """What a dependency looks like now: ``None`` (absent or unreadable
    metadata), ``["f", size, sha256]`` for a regular file (``["F", size,
    mtime_ns]`` above :data:`MAX_HASHED` bytes), for a directory ``["d",
    sha256 of the sorted names]`` if ``listed`` (the check read its entries)
    else ``["d"]`` (it only looked whether it exists), ``["o", mode]`` for
    anything else. ``path`` is absolute. Never raises."""
    try:
        st = _real_stat(path)
    except (OSError, ValueError):
        return None
    if _stat_mod.S_ISREG(st.st_mode):
        if st.st_size > MAX_HASHED:
            return ["F", st.st_size, st.st_mtime_ns]
        try:
            with open(path, "rb") as f:
                return ["f", st.st_size, _sha(f.read())]
        except OSError:
            return ["f?", st.st_size, st.st_mtime_ns]
    if _stat_mod.S_ISDIR(st.st_mode):
        if not listed:
            return ["d"]
        try:
            return ["d", _sha("\0".join(sorted(os.listdir(path))).encode("utf-8", "surrogateescape"))]
        except OSError:
            return ["d?", st.st_mtime_ns]
    return ["o", st.st_mode]


def _package_files(root: str) -> list[list]:
    """``[relative path, size, mtime_ns]`` of every file under ``root`` but ``__pycache__``, sorted."""
    out: list[list] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if e.name != "__pycache__":
                    stack.append(e.path)
            else:
                try:
                    st = e.stat()
                except OSError:
                    continue
                out.append([os.path.relpath(e.path, root), st.st_size, st.st_mtime_ns])
    out.sort()
    return out


def _package_dir() -> str:
    import ragc

    return os.path.dirname(os.path.abspath(ragc.__file__))


def invocation_key(options: dict[str, Any]) -> str:
    """The hex key of an invocation: ``options`` (JSON-able: the paths as
    given and every option that changes the output) plus ragc's version and
    sources, the interpreter, ``sys.path``'s directory mtimes, the current
    directory and the output encodings (see the module docs)."""
    from ragc import __version__

    dirs = []
    for entry in sys.path:
        if not entry.endswith(("site-packages", "dist-packages")):
            continue  # the current directory (in the key anyway), ragc's own source tree, the stdlib
        try:
            dirs.append([entry, _real_stat(entry or ".").st_mtime_ns])
        except OSError:
            dirs.append([entry, None])
    material = {
        "format": FORMAT,
        "ragc": __version__,
        "sources": _sha(json.dumps(_package_files(_package_dir())).encode()),
        "python": [sys.version, sys.executable, sys.platform, sys.flags.utf8_mode],
        "sys.path": dirs,
        "cwd": os.getcwd(),
        "encodings": [getattr(s, "encoding", None) for s in (sys.stdout, sys.stderr)]
                     + [getattr(s, "errors", None) for s in (sys.stdout, sys.stderr)],
        "options": options,
    }
    return _sha(json.dumps(material, sort_keys=True, default=str).encode())


# --------------------------------------------------------------------------- recording


class _RecordingEnviron(MutableMapping):
    """Stands in for ``os.environ`` during a recorded check: reads pass
    through to the real mapping and are noted (``seen``: name -> value or
    ``None``); iterating it notes the whole environment (``all``)."""

    def __init__(self, real, recorder: "Recorder"):
        self._real = real
        self._rec = recorder

    def _note(self, key) -> None:
        if isinstance(key, bytes):
            key = key.decode("utf-8", "surrogateescape")
        if isinstance(key, str):
            self._rec.env[key] = self._real.get(key)

    def __getitem__(self, key):
        self._note(key)
        return self._real[key]

    def get(self, key, default=None):
        self._note(key)
        return self._real.get(key, default)

    def __contains__(self, key) -> bool:
        self._note(key)
        return key in self._real

    def __iter__(self):
        self._rec.env_all = True
        return iter(self._real)

    def keys(self):
        self._rec.env_all = True
        return self._real.keys()

    def items(self):
        self._rec.env_all = True
        return self._real.items()

    def values(self):
        self._rec.env_all = True
        return self._real.values()

    def __len__(self) -> int:
        self._rec.env_all = True
        return len(self._real)

    def copy(self):
        self._rec.env_all = True
        return self._real.copy()

    def __setitem__(self, key, value) -> None:
        self._rec.env_all = True
        self._real[key] = value

    def __delitem__(self, key) -> None:
        self._rec.env_all = True
        del self._real[key]

    def setdefault(self, key, default=None):
        self._note(key)
        return self._real.setdefault(key, default)

    def pop(self, key, *default):
        self._rec.env_all = True
        return self._real.pop(key, *default)

    def __repr__(self) -> str:
        return repr(self._real)


class _Tee:
    """A text stream that writes through to ``real`` and keeps a copy in the
    recorder's ``chunks`` as ``[fd, text]`` (1 stdout, 2 stderr), in order."""

    def __init__(self, real, recorder: "Recorder", fd: int):
        self._real = real
        self._rec = recorder
        self._fd = fd

    def write(self, s: str) -> int:
        self._rec.chunks.append([self._fd, s])
        return self._real.write(s)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        if name in ("buffer", "fileno", "detach"):  # bytes would bypass the copy
            self._rec.tainted = True
        return getattr(self._real, name)


def _meta(path: str) -> tuple | None:
    """``(mode, size, mtime_ns, inode)`` of ``path``, ``None`` if absent."""
    try:
        st = _real_stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)


def _env_digest() -> str:
    items = sorted((k, v) for k, v in os.environ.items() if k != "RAGC_NO_CACHE")
    return _sha(json.dumps(items).encode("utf-8", "surrogateescape"))


def _source_of(path: str) -> str:
    """The ``.py`` file of a ``__pycache__/*.pyc`` path (an imported module: the source is what matters)."""
    if path.endswith(".pyc") and os.sep + "__pycache__" + os.sep in path:
        d, name = os.path.split(path)
        return os.path.join(os.path.dirname(d), name.split(".", 1)[0] + ".py")
    return path


def _audit(event: str, args: tuple) -> None:
    rec = _recording
    if rec is None:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if isinstance(mode, str) and any(c in mode for c in "wax"):
            return  # written, not read
        if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_CREAT):
            return
        rec.note(path)
    elif event == "subprocess.Popen":
        argv = args[1] if len(args) > 1 else None
        probe = getattr(sys.modules.get("ragc.registry.host_sandbox"), "PROBE_COMMAND", None)
        if not (probe and isinstance(argv, (list, tuple)) and tuple(argv[1:]) == tuple(probe)):
            rec.tainted = True  # e.g. an MCP server listed at check time: its answer is not a recorded input
    elif event in ("socket.connect", "socket.getaddrinfo"):
        rec.tainted = True  # an answer from the network is not a recorded input
    elif event in ("os.listdir", "os.scandir"):
        path = args[0] if args else None
        if path is None or path == "" or os.path.abspath(os.fsdecode(path)) in rec.import_dirs:
            return  # the import system (or importlib.metadata) scanning sys.path: not the check's input
        rec.note("." if path is None else path, listed=True)


class Recorder:
    """While active (a context manager), notes every file opened, listed or
    stat-ed (``paths``), every environment variable read (``env``, or
    ``env_all``), and copies what is written to ``sys.stdout`` and
    ``sys.stderr``. ``storable`` says whether the result may be cached.

    Hooks: a process-wide audit hook (``open``, ``os.listdir``,
    ``os.scandir``; ``subprocess.Popen`` other than the sandbox probe and
    ``socket.connect``/``getaddrinfo`` make the recording unstorable, as
    does writing to a stream's ``buffer``; installed once, inert outside a
    recording), ``os.stat`` and ``os.lstat`` wrapped (existence probes),
    ``os.environ`` replaced by a recording view; all restored on exit.

    Each path's metadata (size, mtime, inode) is noted when it is first
    seen; :func:`store` refuses a recording whose files changed since (an
    edit during the check must not be stored with the older answer)."""

    def __init__(self) -> None:
        self.paths: dict[str, bool] = {}  # path -> listed
        self.seen_as: dict[str, tuple | None] = {}  # path -> its metadata when first noted
        self.env: dict[str, str | None] = {}
        self.env_all = False
        self.tainted = False
        self.chunks: list[list] = []  # [fd, text]: what was written to stdout (1) and stderr (2), in order
        self.fresh = not any(m in sys.modules for m in FRONT_END)
        self.import_dirs = {os.path.abspath(p or ".") for p in sys.path if isinstance(p, str)}
        self._skip = tuple(os.path.join(os.path.abspath(p), "") for p in
                           {sys.prefix, sys.base_prefix, sys.exec_prefix, _package_dir(),
                            os.path.abspath(CACHE_DIR), "/dev", "/proc", "/sys"})

    def note(self, path: Any, listed: bool = False) -> None:
        """Record ``path`` (str, bytes or path-like; relative to the current
        directory) as a dependency, unless it belongs to Python or ragc;
        ``listed``: its entries were read (a directory listing)."""
        if isinstance(path, int):
            return
        try:
            path = os.fsdecode(os.fspath(path))
        except TypeError:
            return
        full = os.path.abspath(path)
        if full.startswith(self._skip) or os.path.basename(full).startswith(".lark_cache"):
            return
        full = _source_of(full)
        if full not in self.paths:
            self.seen_as[full] = _meta(full)
        self.paths[full] = self.paths.get(full, False) or listed

    def _stat(self, path, *a, **kw):
        self.note(path)
        return _real_stat(path, *a, **kw)

    def _lstat(self, path, *a, **kw):
        self.note(path)
        return _real_lstat(path, *a, **kw)

    def __enter__(self) -> "Recorder":
        global _recording, _hook_installed
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
        self._environ = os.environ
        self._streams = (sys.stdout, sys.stderr)
        os.environ = _RecordingEnviron(self._environ, self)  # type: ignore[assignment]
        os.stat, os.lstat = self._stat, self._lstat  # type: ignore[assignment]
        sys.stdout, sys.stderr = _Tee(sys.stdout, self, 1), _Tee(sys.stderr, self, 2)  # type: ignore[assignment]
        _recording = self
        return self

    def __exit__(self, *exc: Any) -> None:
        global _recording
        _recording = None
        os.environ = self._environ  # type: ignore[assignment]
        os.stat, os.lstat = _real_stat, _real_lstat  # type: ignore[assignment]
        sys.stdout, sys.stderr = self._streams

    @property
    def storable(self) -> bool:
        """The recording is complete: no front end loaded before it, no bytes
        written past the copies, no other process or network peer asked."""
        return self.fresh and not self.tainted


# --------------------------------------------------------------------------- entries


def _entry_path(key: str) -> str:
    return os.path.join(CACHE_DIR, key[:40] + ".json")


def lookup(key: str) -> dict | None:
    """The stored entry for ``key`` if every dependency it lists is as
    recorded, else ``None`` (also for a missing, unreadable or malformed
    entry). The entry: ``{"output": [[fd, text], ...], "exit": int, ...}``:
    the writes to stdout (fd 1) and stderr (fd 2) in the order they were
    made, and the exit status."""
    try:
        with open(_entry_path(key), encoding="utf-8") as f:
            entry = json.load(f)
        if entry.get("format") != FORMAT or entry.get("key") != key:
            return None
        for path, listed, fp in entry["deps"]:
            if fingerprint(path, listed) != fp:
                return None
        for name, value in entry["env"].items():
            if os.environ.get(name) != value:
                return None
        if entry["env_all"] is not None and entry["env_all"] != _env_digest():
            return None
        if not (isinstance(entry["exit"], int) and all(
                fd in (1, 2) and isinstance(text, str) for fd, text in entry["output"])):
            return None
        return entry
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def replay(entry: dict) -> int:
    """Write a :func:`lookup` entry's output to stdout and stderr, write by
    write in the recorded order (so the streams' buffering, and where the
    lines land when both go to one file, is that of the fresh check); its
    exit status."""
    for fd, text in entry["output"]:
        (sys.stdout if fd == 1 else sys.stderr).write(text)
    return entry["exit"]


def store(key: str, rec: Recorder, code: int) -> bool:
    """Write the entry of a finished check (``rec``, exit status ``code``)
    under ``key``, atomically; ``False`` (nothing written) when the
    recording is not :attr:`Recorder.storable`, a dependency changed while
    the check ran, or the directory cannot be written. Never raises for I/O."""
    if not rec.storable:
        return False
    for p, before in rec.seen_as.items():
        now = _meta(p)
        if before is not None and now is not None and _stat_mod.S_ISDIR(before[0]) and not rec.paths.get(p):
            now, before = now[::3], before[::3]  # a directory only looked at: its mode and inode, not its mtime
        if now != before:
            return False  # a dependency changed while the check ran
    env = {name: os.environ.get(name) for name in ENV_ALWAYS}
    env.update(rec.env)
    env.pop("RAGC_NO_CACHE", None)
    entry = {
        "format": FORMAT,
        "key": key,
        "deps": [[p, listed, fingerprint(p, listed)] for p, listed in sorted(rec.paths.items())],
        "env": env,
        "env_all": _env_digest() if rec.env_all else None,
        "output": rec.chunks,
        "exit": int(code),
    }
    target = _entry_path(key)
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(CACHE_DIR, exist_ok=True)
        ignore = os.path.join(os.path.dirname(CACHE_DIR), ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w", encoding="utf-8") as f:
                f.write("# written by ragc check: the cache can be deleted at any time\n*\n")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(entry, f, ensure_ascii=False)
        os.replace(tmp, target)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
