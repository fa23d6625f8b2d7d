"""``ragc new "GOAL" -o FILE.rag``: the registry's authoring model writes a
workflow for the goal (:mod:`ragc.author`), checks it and repairs it, then
prints the file, its graph and what it may do.

The model is the registry's ``[authoring] model`` (default ``default``, the
embedded local model, decoding constrained by ``grammar/rag.lark``);
``--model NAME`` picks another registry model (a hosted one writes plain
text, then the repair loop runs); ``--no-grammar`` turns the constraint off
(for comparison). The file is checked under ``[policies.untrusted]``, starts
with a comment that says it was generated, and its path is recorded in
``.ragc/approvals.json`` (:func:`ragc.check.approvals.is_generated`): ``ragc
run`` runs it only after ``ragc approve``, and always under
``[policies.untrusted]``. Progress (a dot per 16 tokens, one line per round) goes to
stderr. Exit codes: 0 the file passes check, 1 errors remain after the
repair rounds (the file is still written, for a human), 2 usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ragc.author.goal import GOAL_CODE
from ragc.check.approvals import GENERATED_MARK, ApprovalError, record_generated
from ragc.cli.main import EXIT_ERRORS, EXIT_OK, CliError

HEADER = (GENERATED_MARK + " from the goal below; untrusted until reviewed:\n"
          "// check it, then `ragc approve {path}` before `ragc run {path}`.\n")


def register(subparsers) -> None:
    """Add ``new`` to ``subparsers``."""
    p = subparsers.add_parser("new", help="let a model write a workflow for a goal",
                              description="The registry's authoring model writes a .rag workflow for GOAL from "
                                          "`ragc spec`, then `ragc check` diagnostics drive repair rounds.")
    p.add_argument("goal", metavar="GOAL", help="what the workflow should do, in plain words")
    p.add_argument("-o", "--output", metavar="FILE.rag", type=Path, required=True, help="where to write the file")
    p.add_argument("--model", metavar="NAME",
                   help="registry model that writes (default: `[authoring] model`, else `default`)")
    p.add_argument("--rounds", type=int, metavar="N",
                   help="repair rounds after the first reply (default: `[authoring] rounds`, else 3)")
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
            gaps = sum(1 for d in value if d.get("code") == GOAL_CODE)
            errors = len(value) - gaps
            parts = ([f"{errors} error{'s' if errors != 1 else ''}"] if errors else []) + \
                ([f"{gaps} goal gap{'s' if gaps != 1 else ''}"] if gaps else [])
            self.stream.write(f" {', '.join(parts)}\n" if parts else " ok\n")
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
    if args.rounds is not None and args.rounds < 0:
        raise CliError("--rounds must be 0 or more")
    load = load_registry_arg(args)
    registry = load.registry
    model = args.model or (registry.authoring.model if registry is not None else "default")
    rounds = args.rounds if args.rounds is not None else (registry.authoring.rounds if registry is not None else 3)
    if registry is None or model not in registry.models:
        known = ", ".join(sorted(registry.models)) if registry is not None else "none"
        where = "--model" if args.model else "`[authoring] model`" if registry is not None and \
            "authoring" in registry.model_fields_set else "the default authoring model"
        raise CliError(f"unknown model `{model}` ({where})", hint=f"registry models: {known}")
    writer = writer_for(registry, model, constrained=not args.no_grammar)
    spec = spec_text(registry)
    from ragc.harness.errors import ProviderError

    try:
        res = author(args.goal, registry, writer, spec, rounds=rounds,
                     progress=_Progress(sys.stderr, settings.quiet))
    except (ProviderError, RuntimeError) as e:
        raise CliError(f"the authoring model failed: {e}", hint=getattr(e, "hint", None)) from None
    goal = " ".join(args.goal.split())
    text = HEADER.format(path=args.output) + f"// Goal: {goal}\n" + res.text
    try:
        write_atomic(args.output, text) if args.output.exists() else args.output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write `{args.output}`: {e.strerror}") from None
    try:
        # the path stays untrusted even if the header comment is deleted
        record_generated(args.output)
    except ApprovalError as e:
        raise CliError(f"wrote `{args.output}`, but could not record it as generated: {e}",
                       hint="it still starts with the `ragc new` comment, which marks it untrusted") from None
    out = sys.stdout
    out.write(text)
    if not res.ok:
        from ragc.author.prompt import diagnostics_text

        out.write(f"\nerror: `{args.output}` still has errors after {rounds} repair rounds:\n")
        out.write(diagnostics_text(res.rounds[-1].errors) + "\n")
        return EXIT_ERRORS
    from ragc.ir.export import to_mermaid

    out.write("\n`ragc graph` (Mermaid):\n" + to_mermaid(res.program))
    out.write(f"\nwrote `{args.output}` ({len(res.rounds) - 1} repair round(s)); it passes `ragc check`.\n")
    out.write("\n".join(summary_lines(res.program, registry)) + "\n")
    for gap in res.gaps:  # passes check, but ignores something the goal names
        out.write(f"warning: {gap['message']} (help: {gap['help']})\n")
    out.write(f"review it, then `ragc approve {args.output}`: until then `ragc run` refuses it, and it always "
              "runs under [policies.untrusted]\n")
    return EXIT_OK
