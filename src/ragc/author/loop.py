"""Write, check, repair: the authoring loop behind ``ragc new``.

1. The writer (:mod:`ragc.author.decoding`) answers the goal with the
   ``ragc spec`` reference as its system prompt.
2. The reply is checked as ``ragc check --format json`` checks a file
   (:func:`ragc.compiler.compile_source`, under the untrusted policy when
   asked, :func:`ragc.diagnostics.render.render_json`).
3. Machine-applicable fixes are applied (:mod:`ragc.check.fixes`); if errors
   remain, they are sent back as a user message and the model writes the
   whole file again, up to ``rounds`` repair rounds.
4. A file that passes is compared with the goal (:mod:`ragc.author.goal`):
   a tool, agent or input the goal names and the file does not use, and a
   node nothing leads to, are sent back the same way. The result is the best round: one that passes check
   beats one that does not, then fewer goal gaps, then the later round.

Every round is kept (:class:`Round`) so trials can report the first-try
pass rate, the pass rate after repair and where time went.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ragc.author import prompt as P

Progress = Callable[[str, Any], None]


@dataclass
class Round:
    """One model reply: the ``text`` checked, its ``errors`` (JSON
    diagnostics), the ``fixes`` applied, the reply's ``tokens`` and
    ``seconds``, and (when it passed check) its ``gaps`` against the goal
    (:func:`ragc.author.goal.goal_gaps`)."""

    text: str
    errors: list[dict[str, Any]]
    fixes: list[str]
    tokens: int
    seconds: float
    gaps: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Authored:
    """The outcome: the chosen round's ``text``, whether it passed ``check``
    (``ok``), the compiled ``program`` (``None`` unless ok), its ``gaps``
    against the goal, and every round."""

    text: str
    ok: bool
    program: Any
    rounds: list[Round] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_try_ok(self) -> bool:
        """Whether the first reply passed (after machine-applicable fixes)."""
        return bool(self.rounds) and not self.rounds[0].errors


def check_text(text: str, registry: Any, *, file: str = "new.rag", untrusted: bool = True):
    """``(errors_json, program, fixed_text, fixes)`` for ``text``: the
    machine-applicable fixes are applied first (and reported), then the
    result is compiled. ``errors_json``: the error entries of the JSON
    document of ``ragc check --format json``."""
    from ragc.check.fixes import apply_fixes
    from ragc.compiler import compile_source
    from ragc.diagnostics.render import render_json

    result = compile_source(text, file, registry, untrusted=untrusted)
    applied: list[str] = []
    for _ in range(3):  # a fix can reveal the next (two edits at one place are taken one per pass)
        fixed, now = apply_fixes(text, result.diagnostics)
        if not now:
            break
        applied += now
        result = compile_source(fixed, file, registry, untrusted=untrusted)
        text = fixed
    doc = render_json(result.diagnostics)
    errors = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    for d, src in zip(errors, [x for x in result.diagnostics if x.is_error]):
        d["span"] = {"line": src.span.line, "column": src.span.column} if src.span else {}
    return errors, (result.program if result.ok else None), text, applied


def author(goal: str, registry: Any, writer: Any, spec: str, *, rounds: int = 2, untrusted: bool = True,
           progress: Progress | None = None) -> Authored:
    """Write a workflow for ``goal``.

    Args:
        goal: the task in plain words.
        registry: the loaded registry the file is checked against.
        writer: a writer with ``write(messages, on_piece) -> Generation``.
        spec: the ``ragc spec`` text (system prompt).
        rounds: repair rounds after the first reply (0: none).
        untrusted: check under ``[policies.untrusted]`` (``ragc new`` files are untrusted).
        progress: ``progress(event, value)`` with ``("round", n)``,
            ``("piece", text)``, ``("checked", errors)``, ``("fixed", messages)``.

    Raises:
        whatever the writer raises (model not installed, provider failure).
    """
    def emit(event: str, value: Any) -> None:
        if progress is not None:
            progress(event, value)

    from ragc.author.goal import goal_gaps, requirements

    messages = [{"role": "system", "content": P.system_prompt(spec)},
                {"role": "user", "content": P.goal_message(goal, requirements(goal, registry))}]
    out = Authored(text="", ok=False, program=None)
    best: tuple[bool, int] | None = None
    for n in range(rounds + 1):
        emit("round", n)
        gen = writer.write(messages, on_piece=lambda piece: emit("piece", piece))
        text = gen.text if writer.constrained else P.strip_fences(gen.text)
        if not text.endswith("\n"):
            text += "\n"
        errors, program, text, fixes = check_text(text, registry, untrusted=untrusted)
        if fixes:
            emit("fixed", fixes)
        gaps = goal_gaps(goal, program, registry) if program is not None else []
        emit("checked", errors + gaps)
        out.rounds.append(Round(text, errors, fixes, gen.tokens, gen.seconds, gaps))
        rank = (not errors, -len(gaps))
        if best is None or rank >= best:
            best = rank
            out.text, out.ok, out.program, out.gaps = text, not errors, program, gaps
        if not errors and not gaps:
            break
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": P.repair_message(errors or gaps)}]
    return out
