"""A short, human-readable summary of how a program's IR changed.

Used when ``ragc resume`` refuses to continue a run whose graph changed
(``E0913``): the user sees *what* changed (nodes, channels, joins, routing,
limits) before deciding on ``--force``. The comparison ignores source spans,
like the IR hash does.
"""

from __future__ import annotations

from typing import Any

from ragc.ir.model import ProgramIR


def _fields_changed(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k)]


def _names(kind: str, old: dict[str, Any], new: dict[str, Any], graph: str, out: list[str]) -> None:
    for name in sorted(set(new) - set(old)):
        out.append(f"graph `{graph}`: {kind} `{name}` added")
    for name in sorted(set(old) - set(new)):
        out.append(f"graph `{graph}`: {kind} `{name}` removed")
    for name in sorted(set(old) & set(new)):
        if old[name] != new[name]:
            changed = _fields_changed(old[name], new[name]) if isinstance(old[name], dict) else []
            what = f" ({', '.join(changed)})" if changed else ""
            out.append(f"graph `{graph}`: {kind} `{name}` changed{what}")


def summarize_change(old: ProgramIR | dict[str, Any], new: ProgramIR | dict[str, Any], *, limit: int = 20) -> list[str]:
    """Lines describing the differences between two programs (at most
    ``limit``, then ``... and N more``); ``[]`` when they are equivalent."""
    a = old.semantic_dict() if isinstance(old, ProgramIR) else ProgramIR.model_validate(old).semantic_dict()
    b = new.semantic_dict() if isinstance(new, ProgramIR) else ProgramIR.model_validate(new).semantic_dict()
    out: list[str] = []
    if a.get("entry") != b.get("entry"):
        out.append(f"entry graph changed from `{a.get('entry')}` to `{b.get('entry')}`")
    ga, gb = a.get("graphs", {}), b.get("graphs", {})
    for name in sorted(set(gb) - set(ga)):
        out.append(f"graph `{name}` added")
    for name in sorted(set(ga) - set(gb)):
        out.append(f"graph `{name}` removed")
    for name in sorted(set(ga) & set(gb)):
        x, y = ga[name], gb[name]
        _names("node", x.get("nodes", {}), y.get("nodes", {}), name, out)
        _names("channel", x.get("channels", {}), y.get("channels", {}), name, out)
        _names("join", x.get("joins", {}), y.get("joins", {}), name, out)
        for key in ("start", "input_schema", "output", "limits", "retry", "budget", "allow"):
            if x.get(key) != y.get(key):
                out.append(f"graph `{name}`: `{key}` changed")
    for key in ("refs", "format_version"):
        if a.get(key) != b.get(key) and not out:
            out.append(f"`{key}` changed")
    if len(out) > limit:
        out = out[:limit] + [f"... and {len(out) - limit} more"]
    return out
