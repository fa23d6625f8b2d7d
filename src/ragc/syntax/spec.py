"""The LLM-facing language reference that ``ragc spec`` prints.

One Markdown document meant to be pasted into a prompt: a compact grammar
(derived from ``grammar/rag.lark``, so it cannot drift from the parser), the
rules of the language in short, the per-kind field table, one canonical
example, and the names the registry offers. The CLI supplies the kind table
(from the checker) and the registry names; this module only formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

RESULTS: dict[str, str] = {
    "model": "reply text; the object for `schema`; the chosen label when the model picks a route",
    "agent": "final text (object with `schema`)",
    "tool": "the tool's JSON value",
    "router": "the chosen label",
    "subagent": "the agent's final text",
    "subgraph": "the subgraph's output object",
    "interrupt": "the human's answer",
    "join": '`{"succeeded", "failed", "cancelled", "skipped"}` counts',
    "function": "what the function returns",
}
"""What a node of each kind writes to its output channel (architecture.md)."""

RULES = """\
## Rules

- A file holds graphs: `graph NAME { ... }`. One item per line; `//` starts a comment.
- Settings are `key value` (one per line). Data objects are `{ k: v, k2: v2 }`. Lists need
  commas: `["a", "b"]`. Values: `"strings"` (JSON escapes), `\"\"\"` multi-line strings (the
  common indentation is removed), integers, `0.5`, durations `250ms 30s 5m 1h`, `true`,
  `false`, `null`, paths `input.question`, `state.findings`, `state.drafts[-1]`, `item.title`,
  `result.text`, `payload.x`.
- Names of nodes, channels and route labels are bare words: `next review`, `output findings`.
  Registry names (models, tools, agents, graphs, functions) are strings: `model "default"`,
  `tools ["search"]`, `agent "final_reviewer"`.
- A string containing `{{` or `{%` is a Jinja2 template rendered at run time:
  `"Summarise {{ state.findings }}"`.
- Graph items: `start NODE` (required), `input { name: type [= default] }` (types `string int
  float bool any list[T] dict[T]`, `T?` optional), `output { name: type }` (names of channels
  returned by the run), `channel NAME REDUCER [{ default: v, max_items: n }]` (reducers `last
  append messages merge sum union min max` or a registry reducer), `node NAME { ... }`,
  `edge a -> b`, `join [a, b] -> c [{ policy all|any|quorum N  tolerate N  timeout D }]`,
  `allow tools ["x"]`, `defaults { max_steps max_visits timeout deadline max_concurrency
  max_subgraph_depth retry {..} }`, `budget { max_model_calls max_tool_calls max_tokens
  max_cost_usd }`, `metadata { .. }`, `description "..."`. The channel `errors` is built in.
- Every node has `kind` and may have `description`, `timeout`, `retry { max_attempts backoff
  initial max jitter on [..] }`, `budget { .. }`, `allow tools [..]`, `blocking false`,
  `optional true`, `max_visits N`, `output CHANNEL`, `command { goto X update { ch: v } }`,
  plus its kind's fields (table below) and at most one routing form.
- Routing (exactly one): `next X`, `next [X, Y]` (parallel), `routes { label -> X [when
  CONDITION] ... }`, `command { goto X }`, top-level `edge`s, `send [ ... ]` with `join X`, or
  being a source of a top-level `join`. No routing ends the branch; `END` ends the run.
- Who picks a route label: `router` -> the first `when` that holds (a route without `when`
  always matches; put it last) or its registry `function`; `model`/`agent` -> the model;
  `interrupt` -> the human's answer; `subagent`/`subgraph`/`tool`/`function`/`join` -> `ok`
  or `error` (`error -> fallback` catches failures).
- Conditions: `==  !=  <  <=  >  >=  in  not in`, `and`, `or`, `not`, parentheses;
  operands are values. `and`, `or`, `in`, `not` cannot be used as keys after a value.
- Fan-out: `send [ target { payload }, ... ]` or `send [ target { payload } for item in
  state.items ]` starts one branch per entry (a target is a node or a registry agent), then
  `join X { policy all|any|quorum N  tolerate N  timeout D }` continues at X.
  `max_concurrency N` bounds branches in flight. Branch writes merge in branch order.
- A node writes its result to `output CHANNEL`; else to its agent's registry `output`; else
  to the graph's only `messages` channel. Two parallel branches writing one `last` channel is
  an error: use `append` or a join.
- Limits: 1 MiB per file, nesting depth 64, 10 000 nodes per graph, 100 graphs per file.
"""

EXAMPLE = '''\
// Research a question in parallel, let a human approve, then report.
graph research {
  input {
    question: string
  }

  start plan

  channel findings append
  channel critiques append
  channel report last

  node plan {
    kind model
    model "fast"
    prompt "List two angles to research for: {{ input.question }}"
    send [
      research_agent { question: input.question },
      verifier_agent { question: input.question }
    ]
    join approve {
      policy all
      timeout 5m
    }
  }

  node approve {
    kind interrupt
    prompt "Write the report now?"
    options ["yes", "no"]
    routes {
      yes -> write
      no -> END
    }
  }

  node write {
    kind model
    model "default"
    prompt """
      Answer {{ input.question }} from these notes:
      {{ state.findings }}
      {{ state.critiques }}
      """
    output report
    next END
  }
}
'''
"""A canonical example (``ragc fmt`` leaves it unchanged; tests check it)."""


@dataclass(frozen=True)
class KindTable:
    """The node-kind table as the checker defines it.

    Args:
        kinds: kind names in display order.
        common: fields every kind accepts.
        fields: kind -> its own allowed fields.
        required: kind -> required fields or items.
        aliases: lenient kind spelling -> canonical kind.
    """

    kinds: Sequence[str]
    common: frozenset[str]
    fields: Mapping[str, frozenset[str]]
    required: Mapping[str, Sequence[str]]
    aliases: Mapping[str, str]


def grammar_summary(grammar: str) -> str:
    """The rules of ``rag.lark`` without comments, with keyword terminals
    written as their words (``GRAPH`` -> ``"graph"``)."""
    keywords = dict(re.findall(r'^([A-Z_]+):\s*"([a-z_]+)"\s*$', grammar, flags=re.MULTILINE))
    out: list[str] = []
    for line in grammar.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        line = re.sub(r"\s+//(\s.*)?$", "", line)
        name = re.match(r"^([A-Z_]+):", line)
        if name and name.group(1) in keywords:
            continue
        if not re.match(r"^[A-Z_]+:", line):
            line = re.sub(r"\b([A-Z][A-Z_]*)\b",
                          lambda m: f'"{keywords[m.group(1)]}"' if m.group(1) in keywords else m.group(1), line)
        out.append(line.rstrip())
    return "\n".join(out)


def kinds_markdown(table: KindTable) -> str:
    """The per-kind field table as Markdown."""
    rows = ["| kind | required | also allowed | result |", "|---|---|---|---|"]
    for kind in table.kinds:
        required = list(table.required.get(kind, ()))
        allowed = sorted(table.fields.get(kind, frozenset()) - set(required))
        rows.append(f"| `{kind}` | {', '.join(f'`{r}`' for r in required) or '—'} | "
                    f"{', '.join(f'`{a}`' for a in allowed) or '—'} | {RESULTS.get(kind, '')} |")
    common = ", ".join(f"`{c}`" for c in sorted(table.common))
    aliases = ", ".join(f"`kind {a}` = `kind {c}`" for a, c in sorted(table.aliases.items()))
    rows += ["", f"Common to every kind: {common}." + (f" Accepted aliases: {aliases}." if aliases else "")]
    return "\n".join(rows)


def registry_markdown(names: Mapping[str, Sequence[str]] | None, note: str | None = None) -> str:
    """The registry names section; ``names`` maps a table (``"models"``) to its names."""
    lines = ["## Registry names (use them as strings)", ""]
    if note:
        lines += [note, ""]
    if not names:
        lines.append("No registry was found, so no names are available.")
        return "\n".join(lines)
    for table in ("models", "tools", "agents", "graphs", "functions", "reducers"):
        entries = list(names.get(table, ()))
        shown = ", ".join(f'"{n}"' for n in entries) if entries else "(none)"
        lines.append(f"- {table}: {shown}")
    return "\n".join(lines)


def render_spec(grammar: str, kinds: KindTable | None = None,
                registry: Mapping[str, Sequence[str]] | None = None, registry_note: str | None = None) -> str:
    """The whole reference as Markdown.

    Args:
        grammar: the text of ``rag.lark``.
        kinds: the node-kind table (omitted from the output when None).
        registry: table name -> entry names available to workflows.
        registry_note: one line about where the names come from.
    """
    parts = [
        "# The .rag workflow language (reference for writing workflows)",
        "",
        "Write one `.rag` file in the canonical style of the example. `ragc check FILE` reports "
        "problems as diagnostics with codes and fixes; `ragc fmt FILE` rewrites lenient "
        "spellings into this style.",
        "",
        "## Grammar (Lark, LALR(1); keywords in quotes)",
        "",
        "```lark",
        grammar_summary(grammar),
        "```",
        "",
        RULES.rstrip(),
        "",
    ]
    if kinds is not None:
        parts += ["## Node kinds", "", kinds_markdown(kinds), ""]
    parts += ["## Example", "", "```rag", EXAMPLE.rstrip(), "```", "",
              registry_markdown(registry, registry_note), ""]
    return "\n".join(parts)
