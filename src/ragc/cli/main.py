"""The ``ragc`` command line: argument parsing and dispatch.

Each command group lives in its own module under ``ragc.cli`` and exposes
``register(subparsers)``, which adds its subcommands with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the exit
code. Exit codes (docs/cli.md): 0 success, 1 diagnostics with errors or a
failed run, 2 usage or I/O error, 3 run interrupted and waiting for input.

Expected errors (bad paths, broken registry, malformed input) are reported
as one ``error: ...`` line with a hint and exit 2; a Python traceback is only
ever printed for a bug, with ``RAGC_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from ragc import __version__

# Command-group modules, in the order `ragc --help` lists them.
COMMAND_MODULES = (
    "ragc.cli.check",  # check, graph, compile, explain, diff, approve
    "ragc.cli.fmt",  # fmt, spec
    "ragc.cli.run",  # run, resume, runs
    "ragc.cli.serve",  # serve
)

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 3


class CliError(Exception):
    """An expected failure to report as ``error: message`` (+ hint), exit 2."""

    def __init__(self, message: str, hint: str | None = None, code: int = EXIT_USAGE):
        super().__init__(message)
        self.hint = hint
        self.code = code


def rag_files(raw_paths: list[str], errors: list[str]) -> list[Path]:
    """The ``.rag`` files named by command-line paths, in order and without
    duplicates: a directory means every ``*.rag`` below it (sorted). A path
    that does not exist, or a directory without ``.rag`` files, appends a
    message to ``errors`` (in argument order) and contributes nothing."""
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in raw_paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(x for x in p.rglob("*.rag") if x.is_file())
            if not found:
                errors.append(f"no .rag files under `{raw}`")
        elif p.is_file():
            found = [p]
        else:
            errors.append(f"no such file or directory: `{raw}`")
            found = []
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``ragc`` parser with the subcommands of every module in
    :data:`COMMAND_MODULES` (a module that does not exist yet is skipped)."""
    parser = argparse.ArgumentParser(
        prog="ragc",
        description="Compiler and runtime for .rag agent workflows.",
    )
    parser.add_argument("--version", action="version", version=f"ragc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:  # command group not built yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ragc`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args) or 0)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"  = help: {e.hint}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug: say so plainly, traceback only on request
        if os.environ.get("RAGC_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("  = help: this is a bug in ragc; rerun with RAGC_DEBUG=1 for a traceback and report it",
              file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
