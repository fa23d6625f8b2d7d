"""``ragc lsp``: the language server over stdio (for editors; docs/lsp.md)."""

from __future__ import annotations

from pathlib import Path

from ragc.cli.main import EXIT_OK, CliError


def register(subparsers) -> None:
    """Add ``lsp`` to the ``ragc`` parser."""
    p = subparsers.add_parser("lsp", help="run the language server on stdio (diagnostics, hover, completion, ...)",
                              description="A Language Server Protocol server for .rag files, speaking JSON-RPC "
                                          "on stdin/stdout. See docs/lsp.md for editor set-up.")
    p.add_argument("--registry", type=Path,
                   help="the registry.toml for every document (default: the nearest one above each document)")
    p.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the only transport")
    p.set_defaults(handler=cmd_lsp)


def cmd_lsp(args) -> int:
    """``ragc lsp [--registry FILE]``: serve until the client sends ``exit``."""
    try:
        from ragc.lsp.server import build_server
    except ModuleNotFoundError as e:
        if e.name not in ("pygls", "lsprotocol"):
            raise
        raise CliError("`ragc lsp` needs the pygls package", hint="pip install 'ragc[lsp]'") from None
    if args.registry is not None and not args.registry.is_file():
        raise CliError(f"no such file: `{args.registry}`", hint="pass an existing registry.toml with --registry")
    build_server(args.registry).start_io()
    return EXIT_OK
