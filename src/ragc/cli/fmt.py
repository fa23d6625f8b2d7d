"""``ragc fmt`` (canonical formatting) and ``ragc spec`` (the LLM-facing reference).

``ragc fmt PATH... [--check] [--diff]``: a directory means every ``*.rag``
below it. Without flags each file that is not canonical is rewritten in
place (a temporary file in the same directory, then an atomic rename) and
its name printed. ``--check`` writes nothing, lists the files that would
change and exits 1 if there are any. ``--diff`` writes nothing and prints a
unified diff per file (exit 1 only together with ``--check``). A file with
syntax errors is never rewritten: its diagnostics go to stderr, the other
files are still processed, and the exit code is 1. An unreadable path, a
file that is not UTF-8 or a failed write prints ``error: ...`` and makes the
exit code 2.

``ragc spec [--registry FILE] [--lark]``: the language reference to put in
a prompt (grammar summary, rules, kind table, an example, the registry's
names), or with ``--lark`` the grammar file itself.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

from ragc.cli.main import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, CliError, rag_files


def register(subparsers) -> None:
    """Add ``fmt`` and ``spec`` to ``subparsers``."""
    p = subparsers.add_parser(
        "fmt", help="rewrite .rag files in canonical form",
        description="Rewrite .rag files (directories: every *.rag below) in canonical form: lenient "
                    "spellings replaced, layout normalised, every comment kept. Files with syntax "
                    "errors are left alone.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".rag files or directories (`-`: read standard input, print the canonical text)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; list the files that are not canonical and exit 1 if any")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    p.set_defaults(handler=cmd_fmt)

    p = subparsers.add_parser(
        "spec", help="print the language reference for prompts (or the grammar)",
        description="Print a compact reference of the .rag language for an LLM prompt: grammar, rules, "
                    "node kinds, a canonical example and the names the registry offers.")
    p.add_argument("--registry", metavar="FILE", type=Path,
                   help="registry file (default: registry.toml here or in a parent directory, then "
                        "~/.config/ragc/registry.toml)")
    p.add_argument("--lark", action="store_true", help="print grammar/rag.lark instead")
    p.set_defaults(handler=cmd_spec)


# --------------------------------------------------------------------------- fmt


def _read(path: Path) -> tuple[str, str]:
    """``(raw, text)``: the file as stored and the text to parse (without a
    UTF-8 byte-order mark). Raises OSError or UnicodeDecodeError."""
    raw = path.read_bytes().decode("utf-8")
    return raw, raw[1:] if raw.startswith("\ufeff") else raw


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) through a temporary file in the
    same directory and a rename, keeping the file's permission bits. A
    symbolic link is followed: its target is rewritten, the link stays.

    Raises:
        OSError: the directory is not writable, the disk is full, ...
    """
    path = Path(os.path.realpath(path))
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        except OSError:
            pass  # keeping the mode is best effort; the content matters
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _color(stream) -> bool:
    from ragc.cli.main import use_color

    return use_color(stream)


def _reason(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {e.start})"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[:1].lower() + e.strerror[1:]
    return str(e)


def _fmt_stdin(args) -> int:
    """``ragc fmt -``: standard input to canonical text on stdout (``--check``:
    print nothing, exit 1 if it is not canonical; ``--diff``: the diff).
    Syntax errors: diagnostics on stderr, nothing on stdout, exit 1."""
    from ragc.diagnostics.render import render_text
    from ragc.syntax.formatter import format_source

    text = sys.stdin.read()
    body = text[1:] if text.startswith("\ufeff") else text
    result = format_source(body, "<stdin>")
    if result.text is None:
        sys.stderr.write(render_text(result.diagnostics, {"<stdin>": body}, color=_color(sys.stderr)))
        print("error: `<stdin>` has syntax errors; not formatted", file=sys.stderr)
        return EXIT_ERRORS
    if args.diff:
        sys.stdout.writelines(difflib.unified_diff(body.splitlines(keepends=True),
                                                   result.text.splitlines(keepends=True),
                                                   fromfile="<stdin> (original)", tofile="<stdin> (formatted)"))
    elif not args.check:
        sys.stdout.write(result.text)
    return EXIT_ERRORS if args.check and result.text != text else EXIT_OK


def cmd_fmt(args) -> int:
    """``ragc fmt PATH... [--check] [--diff]``; see the module docstring."""
    from ragc.cli.main import settings
    from ragc.diagnostics.render import render_text
    from ragc.syntax.formatter import format_source

    if "-" in args.paths:
        if len(args.paths) > 1:
            raise CliError("`-` (standard input) cannot be mixed with other paths")
        return _fmt_stdin(args)

    io_errors: list[str] = []
    files = rag_files(args.paths, io_errors)
    for msg in io_errors:
        print(f"error: {msg}", file=sys.stderr)
    write = not (args.check or args.diff)
    refused = 0
    changed: list[Path] = []
    for path in files:
        shown = str(path)
        try:
            raw, text = _read(path)
        except (OSError, UnicodeDecodeError) as e:
            print(f"error: cannot read `{shown}`: {_reason(e)}", file=sys.stderr)
            io_errors.append(shown)
            continue
        result = format_source(text, shown)
        if result.text is None:
            refused += 1
            rendered = render_text(result.diagnostics, {shown: text}, color=_color(sys.stderr))
            sys.stderr.write(rendered)
            print(f"error: `{shown}` has syntax errors; not formatted", file=sys.stderr)
            continue
        if result.text == raw:
            continue
        changed.append(path)
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), result.text.splitlines(keepends=True),
                fromfile=f"{shown} (original)", tofile=f"{shown} (formatted)"))
        if args.check:
            if not args.diff:
                print(shown)
        elif write:
            try:
                write_atomic(path, result.text)
            except OSError as e:
                print(f"error: cannot write `{shown}`: {_reason(e)}", file=sys.stderr)
                io_errors.append(shown)
                continue
            if not settings.quiet:
                print(f"formatted {shown}")
    if io_errors:
        return EXIT_USAGE
    if refused or (args.check and changed):
        return EXIT_ERRORS
    return EXIT_OK


# --------------------------------------------------------------------------- spec


def _kind_table():
    """The checker's node-kind table, for the reference."""
    from ragc.check import kinds as K
    from ragc.syntax.spec import KindTable

    fields = {k: frozenset(v) | (frozenset({"schema"}) if k in K.SCHEMA_KINDS else frozenset())
              for k, v in K.KIND_FIELDS.items()}
    return KindTable(K.KINDS, frozenset(K.COMMON), fields, dict(K.REQUIRED), dict(K.KIND_ALIASES))


def spec_details(registry):
    """The agents' output channels and tools and each tool's argument schema
    (built as the harness builds them; a tool that cannot be built is listed
    with no arguments), for ``ragc spec``."""
    from ragc.harness.tools.registry import argument_schemas
    from ragc.syntax.spec import RegistryDetails

    import re

    agents = {name: (e.output, tuple(e.tools), tuple(dict.fromkeys(re.findall(r"input\.(\w+)", e.prompt or ""))))
              for name, e in registry.agents.items()}
    schemas = argument_schemas(registry)
    tools = {name: schemas.get(name, {}) for name in registry.names("tools")}  # unbuildable: name only
    return RegistryDetails(agents, tools)


def spec_text(registry, note: str | None = None) -> str:
    """The whole ``ragc spec`` reference for ``registry`` (None: no names)."""
    from ragc.syntax.grammar import grammar_text
    from ragc.syntax.spec import render_spec

    if registry is None:
        return render_spec(grammar_text(), _kind_table(), None, note)
    names = {t: registry.names(t) for t in ("models", "tools", "agents", "graphs", "functions", "reducers", "skills")}
    names["memory"] = sorted(n for n, s in registry.stores.items() if s.is_memory)
    return render_spec(grammar_text(), _kind_table(), names, note, spec_details(registry))


def cmd_spec(args) -> int:
    """``ragc spec [--registry FILE] [--lark]``."""
    from ragc.syntax.grammar import grammar_text

    if args.lark:
        sys.stdout.write(grammar_text())
        return EXIT_OK
    from ragc.diagnostics.render import render_text
    from ragc.registry.loader import load_registry
    from ragc.syntax.spec import render_spec

    load = load_registry(args.registry, cwd=Path.cwd())
    if load.io_error:
        raise CliError(load.diagnostics[0].message, hint="pass an existing file with `--registry FILE`")
    names = None
    note = None
    if load.registry is not None and load.path is not None:
        sys.stdout.write(spec_text(load.registry, f"From `{load.display or load.path}`."))
    else:
        if load.registry is not None:
            names = {t: load.registry.names(t) for t in ("agents",)} if load.registry.agents else None
        sys.stdout.write(render_spec(grammar_text(), _kind_table(), names, note))
    errors = [d for d in load.diagnostics if d.is_error]
    if errors:
        sys.stderr.write(render_text(errors, load.sources, color=_color(sys.stderr)))
        return EXIT_ERRORS
    return EXIT_OK
