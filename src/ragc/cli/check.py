"""``ragc check``, ``compile``, ``explain``, ``diff`` and ``approve`` (``graph``: :mod:`ragc.cli.graph`).

Exit codes (``ragc.cli.main``): 0 success, 1 diagnostics with errors, 2
usage or I/O error (a missing file or registry, an unknown code).
Diagnostics go to stdout for ``check`` (the command's output) and to
stderr for the commands whose stdout is something else (``graph``,
``compile``, ``diff``, ``approve``). Colour only on a terminal, and never
with ``NO_COLOR`` set.
"""

from __future__ import annotations

import argparse
import json
import sys

TYPE_CHECKING = False  # typing and pathlib are imported when a check runs, not for a cached answer
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

from ragc.cli.main import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, CliError, rag_files


def register(subparsers) -> None:
    """Add the subcommands of this group to ``subparsers``."""
    p = subparsers.add_parser("check", help="check .rag files against the registry",
                              description="Check .rag files (directories: every *.rag below) and report "
                                          "every problem with its code, location and help.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".rag files or directories (`-`: standard input)")
    add_registry_arg(p, as_text=True)  # a str until the check runs: no pathlib for a cached answer
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--untrusted", action="store_true",
                   help="also check against the registry's [policies.untrusted]")
    p.add_argument("--fix", action="store_true",
                   help="apply machine-applicable suggestions to the files (with `-`: print the fixed text) "
                        "and list each change on stderr, then report what remains")
    p.add_argument("--no-cache", action="store_true",
                   help="check afresh: neither use nor write the result cache (.ragc/cache/check/; "
                        "also RAGC_NO_CACHE=1)")
    p.set_defaults(handler=cmd_check)

    p = subparsers.add_parser("compile", help="print the compiled IR as JSON")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--graph", metavar="NAME", help="the entry graph (default: the only or first one)")
    p.add_argument("--untrusted", action="store_true", help="compile under [policies.untrusted]")
    add_registry_arg(p)
    p.set_defaults(handler=cmd_compile)

    p = subparsers.add_parser("explain", help="explain a diagnostic code")
    p.add_argument("code", nargs="?", metavar="CODE", help="e.g. E0101 (omit to list every code)")
    p.set_defaults(handler=cmd_explain)

    p = subparsers.add_parser("diff", help="what changed between two workflows (nodes, edges, capabilities)")
    p.add_argument("old", metavar="OLD.rag")
    p.add_argument("new", metavar="NEW.rag")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--graph", metavar="NAME", help="the entry graph of both files")
    add_registry_arg(p)
    p.set_defaults(handler=cmd_diff)

    p = subparsers.add_parser("approve", help="approve an untrusted workflow after review",
                              description="Check the file against [policies.untrusted] and, if it has no "
                                          "errors, record its SHA-256 in .ragc/approvals.json.")
    p.add_argument("path", metavar="PATH")
    add_registry_arg(p)
    p.set_defaults(handler=cmd_approve)


def add_registry_arg(p: argparse.ArgumentParser, *, as_text: bool = False) -> None:
    """Add ``--registry FILE`` (a :class:`~pathlib.Path`, or with ``as_text``
    the ``str`` as given; default ``None``: search) to a command's parser;
    shared by every command that compiles."""
    p.add_argument("--registry", metavar="FILE", type=str if as_text else as_path,
                   help="registry file (default: registry.toml here or in a parent directory, then "
                        "~/.config/ragc/registry.toml)")


def as_path(text: str) -> "Path":
    """``Path(text)``; the ``type`` of path options, so that parsing them does
    not import :mod:`pathlib` before a command needs it."""
    from pathlib import Path

    return Path(text)


# --------------------------------------------------------------------------- shared helpers


def _color(stream) -> bool:
    from ragc.cli.main import use_color

    return use_color(stream)


def load_registry_arg(args):
    """Load the registry named by ``args.registry`` (``None``: search), as a
    :class:`~ragc.registry.loader.RegistryLoad`; its diagnostics are left to
    the caller.

    Raises:
        CliError: an explicit file that cannot be read (exit 2).
    """
    from pathlib import Path

    from ragc.registry.loader import load_registry

    from ragc.cli.main import settings

    load = load_registry(args.registry, cwd=Path.cwd())
    if load.io_error:
        d = load.diagnostics[0]
        raise CliError(d.message, hint="pass an existing file with `--registry FILE`")
    if settings.verbose and load.path is not None:
        sys.stderr.write(f"registry: {load.path.resolve()}\n")
    return load


def print_diagnostics(diags, sources, stream: TextIO, *, summary: bool = True) -> None:
    """Write ``diags`` rustc-style to ``stream`` (colour when it is a colour
    terminal), with their source snippets from ``sources`` (file -> text);
    ``summary`` adds the ``error: N errors`` line."""
    from ragc.diagnostics.render import render_text

    text = render_text(diags, sources, color=_color(stream), summary=summary)
    if text:
        stream.write(text)


def compile_path(path: str, args, registry, *, untrusted: bool = False, graph: str | None = None):
    """Compile the ``.rag`` file ``path`` against ``registry``; the
    :class:`~ragc.compiler.CompileResult` (its diagnostics are the caller's).

    Raises:
        CliError: ``path`` is a directory, missing or unreadable (exit 2).
    """
    from pathlib import Path

    from ragc.compiler import READ_ERROR, compile_file

    p = Path(path)
    if p.is_dir():
        raise CliError(f"`{path}` is a directory", hint="give the path of a .rag file")
    if not p.is_file():
        raise CliError(f"no such file: `{path}`", hint="give the path of a .rag file")
    result = compile_file(p, registry, graph=graph, untrusted=untrusted)
    if any(d.code == READ_ERROR for d in result.diagnostics):
        raise CliError(result.diagnostics[0].message)
    return result


def refuse_invalid(result, load) -> int:
    """Print a file's (and the registry's) diagnostics to stderr; exit 1."""
    diags = list(load.diagnostics) + list(result.diagnostics)
    sources = {**load.sources, **result.sources}
    print_diagnostics(diags, sources, sys.stderr)
    return EXIT_ERRORS


def _files(paths: list[str]) -> list[Path]:
    """The files to check (:func:`~ragc.cli.main.rag_files`); the first bad
    path is a usage error."""
    errors: list[str] = []
    files = rag_files(paths, errors)
    if errors:
        raise CliError(errors[0], hint="give .rag files or directories" if errors[0].startswith("no such") else None)
    return files


# --------------------------------------------------------------------------- commands


STDIN = "-"
STDIN_NAME = "<stdin>"
"""The file name spans use for text read from standard input."""


def _fix(path: Path | None, text: str, result, registry, untrusted: bool, shown: str):
    """Apply ``result``'s machine-applicable suggestions to ``text`` (rounds
    until none applies, at most 5), write the file back (``path`` None:
    standard input, printed to stdout instead), list each change on stderr;
    returns the result of compiling the fixed text."""
    from ragc.check.fixes import apply_fixes
    from ragc.compiler import compile_source

    original = text
    for _ in range(5):
        text, applied = apply_fixes(text, result.diagnostics, file=shown)
        if not applied:
            break
        for what in applied:
            sys.stderr.write(f"fixed {shown}:{what}\n")
        result = compile_source(text, shown, registry, untrusted=untrusted, lower=False)
    if path is None:
        sys.stdout.write(text)
    elif text != original:
        from ragc.cli.fmt import write_atomic

        try:
            write_atomic(path, text)
        except OSError as e:
            raise CliError(f"cannot write `{shown}`: {e.strerror}") from None
    return result


def cmd_check(args) -> int:
    """``ragc check PATH... [--registry FILE] [--format text|json] [--untrusted] [--fix] [--no-cache]``;
    ``-`` reads one file from standard input (spans name it ``<stdin>``).

    A check whose inputs are unchanged since the last one prints that one's
    output from the result cache (:mod:`ragc.cli.check_cache`); a fresh
    check stores its output there. ``--fix``, standard input, a terminal,
    ``--color always``, ``--no-cache`` and ``RAGC_NO_CACHE=1`` bypass it."""
    from ragc.cli import check_cache
    from ragc.cli.main import settings

    if (args.fix or STDIN in args.paths or check_cache.disabled(getattr(args, "no_cache", False))
            or not check_cache.reproducible(settings.color)):
        return _check(args)
    key = check_cache.invocation_key({
        "command": "check", "paths": list(args.paths),
        "registry": None if args.registry is None else str(args.registry),
        "format": args.format, "untrusted": bool(args.untrusted),
        "quiet": settings.quiet, "verbose": settings.verbose, "color": settings.color,
    })
    entry = check_cache.lookup(key)
    if entry is not None:
        return check_cache.replay(entry)
    with check_cache.Recorder() as rec:
        code = _check(args)
    check_cache.store(key, rec, code)
    return code


def _check(args) -> int:
    """The check itself (:func:`cmd_check` without the cache)."""
    from pathlib import Path

    if args.registry is not None:
        args.registry = Path(args.registry)
    from ragc.check.approvals import GENERATED_MARK, is_generated
    from ragc.compiler import READ_ERROR, compile_file, compile_source
    from ragc.diagnostics.render import render_json, summary_line

    use_stdin = STDIN in args.paths
    if use_stdin and len(args.paths) > 1:
        raise CliError("`-` (standard input) cannot be mixed with other paths")
    files = [] if use_stdin else _files(args.paths)
    load = load_registry_arg(args)
    diags = list(load.diagnostics)
    sources = dict(load.sources)
    io_problem = False
    if use_stdin:
        text = sys.stdin.read()
        untrusted = args.untrusted or text.startswith(GENERATED_MARK)
        result = compile_source(text, STDIN_NAME, load.registry, untrusted=untrusted, lower=False)
        if args.fix:
            result = _fix(None, text, result, load.registry, untrusted, STDIN_NAME)
        diags += result.diagnostics
        sources.update(result.sources)
        files = [Path(STDIN_NAME)]
    for f in [] if use_stdin else files:
        # a file `ragc new` wrote is checked as it will run: untrusted
        untrusted = args.untrusted or is_generated(f)
        result = compile_file(f, load.registry, untrusted=untrusted, lower=False)
        io_problem |= any(d.code == READ_ERROR for d in result.diagnostics)
        if args.fix and not io_problem:
            result = _fix(f, result.source, result, load.registry, untrusted, str(f))
        diags += result.diagnostics
        sources.update(result.sources)
    errors = sum(1 for d in diags if d.is_error)
    warnings = sum(1 for d in diags if d.severity.value == "warning")
    from ragc.cli.main import settings

    out = sys.stderr if (use_stdin and args.fix) else sys.stdout  # stdout carries the fixed text then
    if args.format == "json":
        json.dump(render_json(diags), out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif use_stdin and args.fix:
        print_diagnostics(diags, sources, out)
    elif settings.quiet:  # errors only, no summary line
        print_diagnostics([d for d in diags if d.is_error], sources, sys.stdout, summary=False)
    else:
        print_diagnostics(diags, sources, sys.stdout, summary=False)
        line = summary_line(errors, warnings)
        checked = f"checked {len(files)} file{'s' if len(files) != 1 else ''}"
        if diags:
            sys.stdout.write("\n")
        if errors:
            sys.stdout.write(f"{line} ({checked})\n")
        elif warnings:
            sys.stdout.write(f"{line} ({checked})\n")
        else:
            sys.stdout.write(f"ok: {checked}, no problems\n")
    if io_problem:
        return EXIT_USAGE
    return EXIT_ERRORS if errors else EXIT_OK


def cmd_compile(args) -> int:
    """``ragc compile PATH [--graph NAME]``: the IR as JSON (stable, hashed)."""
    load = load_registry_arg(args)
    result = compile_path(args.path, args, load.registry, graph=args.graph, untrusted=args.untrusted)
    if not result.ok or result.program is None or not load.ok:
        return refuse_invalid(result, load)
    warnings = [d for d in result.diagnostics if not d.is_error]
    if warnings:
        print_diagnostics(warnings, result.sources, sys.stderr)
    sys.stdout.write(result.program.model_dump_json(indent=2) + "\n")
    return EXIT_OK


def cmd_explain(args) -> int:
    """``ragc explain [CODE]``: one catalogue entry, or the list of codes."""
    from ragc.diagnostics.codes import catalogue, lookup, render_entry
    from ragc.diagnostics.suggest import did_you_mean

    if not args.code:
        for info in catalogue().values():
            sys.stdout.write(f"{info.code}  {info.title}\n")
        return EXIT_OK
    info = lookup(args.code)
    if info is None:
        guess = did_you_mean(args.code.strip().upper(), list(catalogue()))
        raise CliError(f"unknown diagnostic code `{args.code}`",
                       hint=f"did you mean `{guess}`?" if guess else "`ragc explain` lists every code")
    sys.stdout.write(render_entry(info))
    return EXIT_OK


def cmd_diff(args) -> int:
    """``ragc diff OLD.rag NEW.rag [--format text|json]``."""
    from ragc.ir.diff import diff_programs, render_diff_text

    load = load_registry_arg(args)
    old = compile_path(args.old, args, load.registry, graph=args.graph)
    new = compile_path(args.new, args, load.registry, graph=args.graph)
    if not load.ok or not old.ok or not new.ok or old.program is None or new.program is None:
        diags = list(load.diagnostics) + old.diagnostics + new.diagnostics
        print_diagnostics(diags, {**load.sources, **old.sources, **new.sources}, sys.stderr)
        return EXIT_ERRORS
    d = diff_programs(old.program, new.program, old_file=args.old, new_file=args.new)
    if args.format == "json":
        json.dump(d, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_diff_text(d))
    return EXIT_OK


def cmd_approve(args) -> int:
    """``ragc approve PATH``: untrusted check, then record the file's hash."""
    from ragc.check.approvals import ApprovalError, record_approval

    load = load_registry_arg(args)
    result = compile_path(args.path, args, load.registry, untrusted=True)
    if not load.ok or not result.ok or result.program is None:
        refuse_invalid(result, load)
        sys.stderr.write(f"error: not approved: `{args.path}` has errors under the untrusted policy\n")
        return EXIT_ERRORS
    if result.diagnostics:
        print_diagnostics(result.diagnostics, result.sources, sys.stderr)
    from ragc.cli.capabilities import capability_lines

    # what the approval lets the file do, shown before it is recorded
    sys.stdout.write(f"`{args.path}` ({result.program.entry}) " + "\n".join(
        capability_lines(result.program, load.registry, load.registry.policies.get("untrusted"))) + "\n")
    try:
        record = record_approval(args.path, ir_hash=result.program.hash)
    except (OSError, ApprovalError) as e:
        raise CliError(str(e)) from None
    sys.stdout.write(f"approved `{args.path}` ({record['sha256']}) in .ragc/approvals.json\n")
    return EXIT_OK
