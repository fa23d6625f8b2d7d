"""``ragc graph``: draw a workflow as Mermaid, DOT, or (with Graphviz) SVG/PNG.

``ragc graph PATH [--graph NAME] [--format mermaid|dot|svg|png] [-o FILE]``.
Mermaid and DOT are text (:mod:`ragc.ir.export`). ``svg`` and ``png`` pipe
the DOT through Graphviz's ``dot`` program (https://graphviz.org/doc/info/command.html:
``dot -Tsvg``), which must be on ``PATH``; without it the command is a usage
error (exit 2) whose hint says how to install it. A PNG is never written to
a terminal: give ``-o FILE`` or redirect stdout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ragc.cli.main import EXIT_OK, CliError

IMAGE_FORMATS = ("svg", "png")
DOT_TIMEOUT_S = 60


def register(subparsers) -> None:
    """Add ``graph`` to ``subparsers``."""
    from ragc.cli.check import add_registry_arg

    p = subparsers.add_parser(
        "graph", help="draw a workflow (Mermaid, DOT, or SVG/PNG with Graphviz)",
        description="Draw the compiled workflow: START and END, nodes with their kind, model, tool and "
                    "tools, send branches by their payload, joins with their policy, routes with their "
                    "labels.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--graph", metavar="NAME", help="the graph to draw (default: the file's entry graph)")
    p.add_argument("--format", choices=("mermaid", "dot") + IMAGE_FORMATS, default="mermaid",
                   help="mermaid (default), dot, or svg/png rendered by Graphviz's `dot`")
    p.add_argument("-o", "--output", metavar="FILE", type=Path, help="write to FILE instead of stdout")
    add_registry_arg(p)
    p.set_defaults(handler=cmd_graph)


def render_graphviz(dot_text: str, fmt: str) -> bytes:
    """``dot_text`` rendered by Graphviz ``dot -T<fmt>`` (``fmt``: ``svg`` or ``png``).

    Raises:
        CliError: ``dot`` is not installed, fails, or takes longer than
            :data:`DOT_TIMEOUT_S` seconds.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise CliError(f"`--format {fmt}` needs Graphviz's `dot` program, which is not on PATH",
                       hint="install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz`), "
                            "or use `--format dot` / `--format mermaid`")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CliError(f"Graphviz `dot` took longer than {DOT_TIMEOUT_S}s") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CliError(f"Graphviz `dot` failed: {why[0] if why else f'exit {done.returncode}'}",
                       hint="this is a bug in ragc's DOT output; `--format dot` shows it")
    return done.stdout


def cmd_graph(args) -> int:
    """``ragc graph PATH [--graph NAME] [--format mermaid|dot|svg|png] [-o FILE]``."""
    from ragc.cli.check import compile_path, load_registry_arg, refuse_invalid
    from ragc.ir.export import to_dot, to_mermaid

    if args.format == "png" and args.output is None and sys.stdout.isatty():
        raise CliError("refusing to write a PNG to the terminal", hint="give `-o FILE.png` or redirect stdout")
    load = load_registry_arg(args)
    result = compile_path(args.path, args, load.registry, graph=args.graph)
    if not result.ok or result.program is None or not load.ok:
        return refuse_invalid(result, load)
    program = result.program
    if args.graph and args.graph not in program.graphs:
        raise CliError(f"no graph `{args.graph}` in `{args.path}`")
    # what each registry agent may use, so sub-agent boxes show their model and tools
    agents = {name: (a.model, list(a.tools)) for name, a in (load.registry.agents if load.registry else {}).items()}
    if args.format == "mermaid":
        data = to_mermaid(program, agents=agents).encode("utf-8")
    else:
        dot = to_dot(program, agents=agents)
        data = dot.encode("utf-8") if args.format == "dot" else render_graphviz(dot, args.format)
    if args.output is not None:
        try:
            args.output.write_bytes(data)
        except OSError as e:
            raise CliError(f"cannot write `{args.output}`: {e.strerror or e}") from None
        from ragc.cli.main import settings

        if not settings.quiet:
            sys.stderr.write(f"wrote {args.output} ({len(data)} bytes)\n")
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return EXIT_OK
