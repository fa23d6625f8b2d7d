"""``ragc new "GOAL" -o FILE.rag``: the registry's authoring model writes a
workflow for the goal (:mod:`ragc.author`), checks it and repairs it, then
prints the file, its graph and what it may do.

The default model is the registry's ``default`` (the embedded local model,
decoding constrained by ``grammar/rag.lark``); ``--model NAME`` picks another
registry model (a hosted one writes plain text, then the repair loop
runs); ``--no-grammar`` turns the constraint off (for comparison). The file
is checked under ``[policies.untrusted]`` and starts with a comment that
says it was generated: it runs with ``ragc run --untrusted`` only after
``ragc approve``. Progress (a dot per 16 tokens, one line per round) goes to
stderr. Exit codes: 0 the file passes check, 1 errors remain after the
repair rounds (the file is still written, for a human), 2 usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ragc.cli.main import EXIT_ERRORS, EXIT_OK, CliError

HEADER = ("// Written by `ragc new` from the goal below; untrusted until reviewed:\n"
          "// check it, then `ragc approve {path}` before `ragc run --untrusted {path}`.\n")


def register(subparsers) -> None:
    """Add ``new`` to ``subparsers``."""
    p = subparsers.add_parser("new", help="let a model write a workflow for a goal",
                              description="The registry's authoring model writes a .rag workflow for GOAL from "
                                          "`ragc spec`, then `ragc check` diagnostics drive repair rounds.")
    p.add_argument("goal", metavar="GOAL", help="what the workflow should do, in plain words")
    p.add_argument("-o", "--output", metavar="FILE.rag", type=Path, required=True, help="where to write the file")
    p.add_argument("--model", default="default", metavar="NAME",
                   help="registry model that writes (default: `default`, the embedded model)")
    p.add_argument("--rounds", type=int, default=3, metavar="N", help="repair rounds after the first reply (3)")
    p.add_argument("--no-grammar", action="store_true", help="do not constrain decoding by the grammar")
    p.add_argument("--force", action="store_true", help="overwrite FILE.rag if it exists")
    p.add_argument("--registry", metavar="FILE", type=Path,
                   help="registry file (default: registry.toml here or in a parent directory)")
    p.set_defaults(handler=cmd_new)


class _Progress:
    """Progress on stderr: a line per round, a dot per 16 generated pieces."""

    def __init__(self, stream, quiet: bool):
        self.stream, self.quiet, self.pieces = stream, quiet, 0

    def __call__(self, event: str, value) -> None:
        if self.quiet:
            return
        if event == "round":
            self.pieces = 0
            self.stream.write(("writing" if value == 0 else f"repair round {value}") + " ")
        elif event == "piece":
            self.pieces += 1
            if self.pieces % 16 == 0:
                self.stream.write(".")
        elif event == "fixed":
            self.stream.write(f" fixed {len(value)}")
        elif event == "checked":
            self.stream.write(f" {len(value)} error{'s' if len(value) != 1 else ''}\n" if value else " ok\n")
        self.stream.flush()


def summary_lines(program, registry) -> list[str]:
    """The capability summary of a compiled program (models, tools, agents, budgets)."""
    from ragc.cli.capabilities import capability_lines

    return capability_lines(program, registry, registry.policies.get("untrusted"))


def cmd_new(args) -> int:
    """``ragc new GOAL -o FILE.rag``; see the module docstring."""
    from ragc.author.decoding import writer_for
    from ragc.author.loop import author
    from ragc.cli.check import load_registry_arg
    from ragc.cli.fmt import spec_text, write_atomic
    from ragc.cli.main import settings

    if args.output.exists() and not args.force:
        raise CliError(f"`{args.output}` exists", hint="pass --force to overwrite it, or choose another name")
    if args.rounds < 0:
        raise CliError("--rounds must be 0 or more")
    load = load_registry_arg(args)
    registry = load.registry
    if registry is None or args.model not in registry.models:
        known = ", ".join(sorted(registry.models)) if registry is not None else "none"
        raise CliError(f"unknown model `{args.model}`", hint=f"registry models: {known}")
    writer = writer_for(registry, args.model, constrained=not args.no_grammar)
    spec = spec_text(registry)
    from ragc.harness.errors import ProviderError

    try:
        res = author(args.goal, registry, writer, spec, rounds=args.rounds,
                     progress=_Progress(sys.stderr, settings.quiet))
    except (ProviderError, RuntimeError) as e:
        raise CliError(f"the authoring model failed: {e}", hint=getattr(e, "hint", None)) from None
    goal = " ".join(args.goal.split())
    text = HEADER.format(path=args.output) + f"// Goal: {goal}\n" + res.text
    try:
        write_atomic(args.output, text) if args.output.exists() else args.output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write `{args.output}`: {e.strerror}") from None
    out = sys.stdout
    out.write(text)
    if not res.ok:
        from ragc.author.prompt import diagnostics_text

        out.write(f"\nerror: `{args.output}` still has errors after {args.rounds} repair rounds:\n")
        out.write(diagnostics_text(res.rounds[-1].errors) + "\n")
        return EXIT_ERRORS
    from ragc.ir.export import to_mermaid

    out.write("\n`ragc graph` (Mermaid):\n" + to_mermaid(res.program))
    out.write(f"\nwrote `{args.output}` ({len(res.rounds) - 1} repair round(s)); it may use:\n")
    out.write("\n".join(summary_lines(res.program, registry)) + "\n")
    out.write(f"review it, then `ragc approve {args.output}` to let `ragc run --untrusted` run it\n")
    return EXIT_OK
