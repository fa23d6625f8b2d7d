"""The ``ragc`` command line: argument parsing and dispatch.

Each command group lives in its own module under ``ragc.cli`` and exposes
``register(subparsers)``, which adds its subcommands with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the exit
code. Exit codes (docs/cli.md): 0 success, 1 diagnostics with errors or a
failed run, 2 usage or I/O error, 3 run interrupted and waiting for input.

Expected errors (bad paths, broken registry, malformed input) are reported
as one ``error: ...`` line with a hint and exit 2; a Python traceback is only
ever printed for a bug, with ``RAGC_DEBUG=1``. Usage errors name the
command's own usage and suggest the closest command or option.

Global options (every command, before or after its name): ``-q/--quiet``,
``-v/--verbose``, ``--color auto|always|never``; commands read them from
:data:`settings` and colour through :func:`use_color`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

TYPE_CHECKING = False  # neither typing, dataclasses nor pathlib is imported on startup (`ragc check` from its cache)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, NoReturn

from ragc import __version__

# Command-group modules and the commands each registers, in the order
# `ragc --help` lists them. The table lets `ragc check` import only
# ragc.cli.check (startup time); a test keeps it equal to what the modules
# register.
COMMANDS: dict[str, tuple[str, ...]] = {
    "ragc.cli.check": ("check", "compile", "explain", "diff", "approve"),
    "ragc.cli.graph": ("graph",),
    "ragc.cli.fmt": ("fmt", "spec"),
    "ragc.cli.run": ("run", "resume", "runs"),
    "ragc.cli.completion": ("completion",),
    "ragc.cli.repl": ("repl",),
    "ragc.cli.lsp": ("lsp",),
    "ragc.cli.serve": ("serve",),
    "ragc.cli.new": ("new",),
    "ragc.cli.temporal_cli": ("worker", "dev-server"),
}
COMMAND_MODULES = tuple(COMMANDS)

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
    from pathlib import Path

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


class Settings:
    """Output settings shared by every command (the global options).

    ``quiet``: only results and errors (no progress, summaries or status
    lines); ``verbose``: 0, 1 (``-v``: which files are used, branch-level
    progress) or more; ``color``: ``auto`` (a terminal, and no ``NO_COLOR``),
    ``always`` or ``never``."""

    def __init__(self, quiet: bool = False, verbose: int = 0, color: str = "auto"):
        self.quiet = quiet
        self.verbose = verbose
        self.color = color

    def __repr__(self) -> str:
        return f"Settings(quiet={self.quiet!r}, verbose={self.verbose!r}, color={self.color!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return (self.quiet, self.verbose, self.color) == (other.quiet, other.verbose, other.color)


settings = Settings()
"""The current command's :class:`Settings` (set by :func:`main`)."""


def use_color(stream: Any) -> bool:
    """Whether to colour output on ``stream``: ``--color always``/``never``,
    else only on a terminal and never with ``NO_COLOR`` set (https://no-color.org)."""
    if settings.color == "always":
        return True
    if settings.color == "never":
        return False
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


class RagcParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors look like ragc's other errors
    (``error: ...`` and ``= help: ...``), come with the usage of the command
    that failed (``ragc check``'s for ``ragc check --formt``), and suggest
    the closest command or option ("did you mean") by edit distance
    (:func:`ragc.diagnostics.suggest.did_you_mean`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # the deepest parser that matched; unknown arguments are reported in its usage
        self.set_defaults(_parser=self)

    def add_subparsers(self, **kwargs: Any) -> Any:
        """Subcommand parsers that are :class:`RagcParser` too, each with the
        global options (:func:`global_options`)."""
        kwargs.setdefault("parser_class", RagcParser)
        action = super().add_subparsers(**kwargs)
        add_parser = action.add_parser

        def add_with_globals(name: str, **kw: Any) -> argparse.ArgumentParser:
            kw["parents"] = list(kw.get("parents", [])) + [_shared_options()]
            return add_parser(name, **kw)

        action.add_parser = add_with_globals  # type: ignore[method-assign]
        return action

    def _choices(self) -> list[str]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return list(action.choices)
        return []

    def _options(self) -> list[str]:
        return [o for a in self._actions for o in a.option_strings if o.startswith("--")]

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        """Print usage and ``error: message`` (+ a did-you-mean hint); exit 2."""
        from ragc.diagnostics.suggest import did_you_mean

        hint = None
        bad = re.search(r"invalid choice: '([^']*)'", message)
        if bad:
            guess = did_you_mean(bad.group(1), self._choices())
            kind = "command" if self.prog == "ragc" else "subcommand"
            message = f"unknown {kind} `{bad.group(1)}`"
            hint = f"did you mean `{guess}`?" if guess else f"`{self.prog} --help` lists them"
        elif message.startswith("unrecognized arguments: "):
            extras = message.split(": ", 1)[1].split()
            options = [x for x in extras if x.startswith("-")]
            word = "argument" if len(extras) == 1 else "arguments"
            message = f"unexpected {word} {', '.join(f'`{x}`' for x in extras)} for `{self.prog}`"
            for x in options:
                guess = did_you_mean(x.split("=", 1)[0], self._options())
                if guess:
                    hint = f"did you mean `{guess}`?"
                    break
            if hint is None:
                hint = f"`{self.prog} --help` shows its arguments"
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        if hint:
            sys.stderr.write(f"  = help: {hint}\n")
        sys.exit(EXIT_USAGE)


def global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """``-q/--quiet``, ``-v/--verbose`` and ``--color``, accepted before and
    after the command (``ragc -q run x`` and ``ragc run x -q``). On the
    subcommands their defaults are suppressed, so a flag given before the
    command is not reset by the subcommand's default."""
    p = argparse.ArgumentParser(add_help=False)
    default = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    g = p.add_argument_group("output options")
    g.add_argument("-q", "--quiet", action="store_true", default=default(False),
                   help="print only results and errors (no progress, summaries or status lines)")
    g.add_argument("-v", "--verbose", action="count", default=default(0),
                   help="say which files are used; branch-level progress (repeatable)")
    g.add_argument("--color", choices=("auto", "always", "never"), default=default("auto"),
                   help="colour the output: auto (a terminal without NO_COLOR; default), always or never")
    return p


_SHARED: list[argparse.ArgumentParser] = []


def _shared_options() -> argparse.ArgumentParser:
    if not _SHARED:
        _SHARED.append(global_options(suppress=True))
    return _SHARED[0]


def command_word(argv: list[str]) -> str | None:
    """The command named in ``argv`` (``["-q", "run", "x.rag"]`` -> ``"run"``):
    the first word after the global options, if it is one of :data:`COMMANDS`;
    else ``None`` (no command, ``--help``, ``--version``, an unknown word)."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in ("-q", "--quiet", "--verbose") or re.fullmatch(r"-v+", word) or word.startswith("--color="):
            i += 1
        elif word == "--color":
            i += 2
        else:
            return word if any(word in names for names in COMMANDS.values()) else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``ragc`` parser with the subcommands of every module in
    :data:`COMMAND_MODULES` (a module that does not exist yet is skipped);
    with ``command``, only the module that registers it is imported (so
    ``ragc check`` does not load the runtime, ``ragc run`` not the language
    server). Help, completion and did-you-mean use the whole parser."""
    parser = RagcParser(
        prog="ragc",
        description="Compiler and runtime for .rag agent workflows.",
        parents=[global_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"ragc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [m for m, names in COMMANDS.items() if command in names] if command is not None else []
    for mod_name in modules or COMMAND_MODULES:
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
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(command_word(argv))
    args, extras = parser.parse_known_args(argv)
    if extras:
        # report them in the usage of the command they were given to
        getattr(args, "_parser", parser).error("unrecognized arguments: " + " ".join(extras))
    settings.quiet = bool(getattr(args, "quiet", False))
    settings.verbose = int(getattr(args, "verbose", 0) or 0)
    settings.color = getattr(args, "color", "auto") or "auto"
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
    # `python -m ragc.cli.main` runs this file as `__main__`, a second copy of the module whose
    # CliError is not the one the command modules raise; run the imported module's main instead
    from ragc.cli import main as _cli

    raise SystemExit(_cli.main())
