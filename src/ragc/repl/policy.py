"""The limits of one ``.ragsh`` session: :class:`ReplPolicy`.

A script is untrusted text (often written by a model), so every resource it
can consume is bounded, in the spirit of seed 002's ``ReplPolicy``. Each
limit, once passed, stops the running cell with a :class:`ReplLimitError`
naming the limit and the value it has reached; the session stays usable.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class ReplPolicy:
    """Bounds of a session (all per session unless said otherwise).

    Attributes:
        max_operations: evaluation work per cell, in *ticks*: the Starlark
            evaluator reports one tick about every 1000 bytecode
            instructions (starlark-pyo3's ``EvalOptions.check_cancelled``),
            so 10_000 ticks is about ten million instructions.
        max_calls: capability calls (each element of a ``_batched`` call
            counts once) over the whole session.
        max_output_bytes: UTF-8 bytes written by ``print`` and
            ``show_vars`` over the whole session.
        max_depth: Starlark call-stack depth (recursion included).
        timeout_s: wall-clock seconds per cell, capability calls included.
        max_concurrency: the most calls a ``_batched`` builtin runs at once
            (a call may ask for fewer, never for more).
        max_source_bytes: size of one cell or script, and of one graph given
            to ``graph_define``.
        max_graphs: graphs a session may define with ``graph_define``.
    """

    max_operations: int = 20_000
    max_calls: int = 200
    max_output_bytes: int = 1_000_000
    max_depth: int = 50
    timeout_s: float = 300.0
    max_concurrency: int = 4
    max_source_bytes: int = 200_000
    max_graphs: int = 32

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ReplPolicy.{f.name} must be a positive number, got {value!r}")

    def narrowed(self, **limits: float | int | None) -> "ReplPolicy":
        """A copy with the given limits (``None`` values are ignored).

        Raises:
            ValueError: an unknown limit name or a non-positive value.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(limits) - known)
        if unknown:
            raise ValueError(f"unknown ReplPolicy limit(s): {', '.join(unknown)}")
        return replace(self, **{k: v for k, v in limits.items() if v is not None})


LIMIT_NAMES = tuple(f.name for f in fields(ReplPolicy))
"""The names of every limit, in declaration order (CLI flags mirror them)."""
