"""``ragc repl [FILE.ragsh]``: run a ``.ragsh`` script, or an interactive session.

With a file: the script runs as one cell; what it prints goes to stdout; if
it calls ``answer(value)`` the value is printed last (a string as it is,
anything else as JSON); ``--json`` prints one object ``{"ok", "answer",
"error"}`` instead. Without a file: cells are read from stdin (prompt
``>>> ``, continuation ``... ``; a cell that opens a block (a line ending in
``:``) or a bracket continues until a blank line or the bracket closes), the
value of a cell's last expression is echoed as JSON, and the namespace
persists until end of input or ``answer(...)``. Ctrl-C stops the running
cell and keeps the session.

Exit codes: 0 success, 1 the script failed (error on stderr), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ragc.cli.main import EXIT_ERRORS, EXIT_OK, CliError
from ragc.repl.policy import LIMIT_NAMES, ReplPolicy


def register(subparsers) -> None:
    """Add ``repl`` to the ``ragc`` parser."""
    p = subparsers.add_parser("repl", help="run a .ragsh script or an interactive .ragsh session",
                              description="Script registry capabilities (models, agents, tools, graphs) in .ragsh, "
                                          "a sandboxed Starlark dialect. See docs/repl.md.")
    p.add_argument("path", nargs="?", help="a .ragsh script (default: read cells from stdin)")
    p.add_argument("--registry", type=Path, help="the registry.toml (default: ./registry.toml, then the user config)")
    p.add_argument("--workspace", help="root of file tools in graph runs (default: the registry's)")
    p.add_argument("--json", action="store_true", help="with a script: print {ok, answer, error} as one JSON object")
    defaults = ReplPolicy()
    for name in LIMIT_NAMES:
        kind = float if isinstance(getattr(defaults, name), float) else int
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None, metavar="N",
                       help=f"ReplPolicy.{name} (default {getattr(defaults, name)})")
    p.set_defaults(handler=cmd_repl)


def _policy(args) -> ReplPolicy:
    try:
        return ReplPolicy().narrowed(**{n: getattr(args, n) for n in LIMIT_NAMES})
    except ValueError as e:
        raise CliError(str(e), hint="limits are positive numbers") from None


def _registry(path: Path | None):
    from ragc.cli.check import print_diagnostics
    from ragc.registry.loader import load_registry

    load = load_registry(path, cwd=Path.cwd())
    if load.io_error or not load.ok or load.registry is None:
        print_diagnostics(load.diagnostics, load.sources, sys.stderr)
        raise CliError("the registry has errors" if not load.io_error else load.diagnostics[0].message,
                       hint="fix registry.toml or pass one with `--registry FILE`")
    return load.registry


def cmd_repl(args) -> int:
    """``ragc repl [FILE] [--registry F] [--json] [--max-calls N ...]``."""
    try:
        from ragc.repl.session import ReplSession
    except ModuleNotFoundError as e:
        if e.name != "starlark":
            raise
        raise CliError("`ragc repl` needs the starlark-pyo3 package", hint="pip install 'ragc[repl]'") from None

    policy = _policy(args)
    source = None
    if args.path is not None:
        try:
            source = Path(args.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"cannot read `{args.path}`: {getattr(e, 'strerror', None) or e}",
                           hint="give the path of a .ragsh script") from None
    registry = _registry(args.registry)
    write = None if args.json else _stdout
    with ReplSession(registry, policy=policy, workspace=args.workspace, write=write) as session:
        if source is not None:
            return _script(session, source, args)
        return _interactive(session)


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _script(session, source: str, args) -> int:
    result = session.run_cell(source, args.path)
    if args.json:
        out = {"ok": result.ok, "answer": session.answer if session.answered else None,
               "output": result.output, "error": result.error.to_json() if result.error else None}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    elif result.ok and session.answered:
        _stdout(_answer_text(session.answer) + "\n")
    if result.error is not None:
        sys.stderr.write(result.error.render(args.path))
        return EXIT_ERRORS
    return EXIT_OK


def _answer_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _interactive(session) -> int:
    """Read cells from stdin until end of input or ``answer``."""
    failed = False
    number = 0
    while True:
        cell = _read_cell()
        if cell is None:
            break
        if not cell.strip():
            continue
        number += 1
        try:
            result = session.run_cell(cell, f"<cell {number}>")
        except KeyboardInterrupt:  # Ctrl-C stops the cell, not the session
            sys.stderr.write("cancelled\n")
            failed = True
            continue
        if result.error is not None:
            failed = True
            sys.stderr.write(result.error.render(f"<cell {number}>"))
            sys.stderr.flush()
        elif session.answered:
            _stdout("answer: " + _answer_text(session.answer) + "\n")
            return EXIT_OK
        elif result.value is not None:
            _stdout(json.dumps(result.value, ensure_ascii=False, default=str) + "\n")
    return EXIT_ERRORS if failed and not session.answered else EXIT_OK


def _read_cell() -> str | None:
    """One cell from stdin (``None`` at end of input)."""
    lines: list[str] = []
    _stdout(">>> ")
    while True:
        line = sys.stdin.readline()
        if not line:
            return "".join(lines) if lines else None
        lines.append(line)
        text = "".join(lines)
        block = lines[0].rstrip().endswith(":")
        if block:
            if not line.strip():
                return text
        elif _balanced(text) and not line.rstrip().endswith("\\"):
            return text
        _stdout("... ")


def _balanced(text: str) -> bool:
    """Whether brackets outside strings are closed (a cheap continuation test)."""
    depth = 0
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = None
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif ch in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            i += len(quote) - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        i += 1
    return depth <= 0 and quote is None
