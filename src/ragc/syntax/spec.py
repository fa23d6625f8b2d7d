"""The LLM-facing language reference that ``ragc spec`` prints.

One Markdown document meant to be pasted into a prompt: a compact grammar
(derived from ``grammar/rag.lark``, so it cannot drift from the parser), the
rules of the language in short, the per-kind field table, one canonical
example, and the names the registry offers. The CLI supplies the kind table
(from the checker) and the registry names; this module only formats.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Mapping, Sequence

from ragc.kinds import BACKOFF_SCHEDULES, NEVER_RETRIED_KINDS, RETRY_ON

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
    "repl": "the value a cell gave to `answer(...)`",
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
  `interrupt` -> the human's answer; `subagent`/`subgraph`/`tool`/`function`/`join`/`repl` ->
  `ok` or `error` (`error -> fallback` catches failures).
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
- A fork that does no work: `kind router` with only `next [a, b]` or `send [...]` + `join X`
  (no `routes`) calls nothing and starts the branches (`kind fork` is accepted and formatted
  as `kind router`). `start` names one node; to start in parallel, start at such a router.
- `kind repl`: the node's `model` writes ```` ```ragsh ```` cells (Starlark: no import, no while,
  no files or network) that may call `tool_call("T", {..})` for its `tools`, `model_query("M",
  prompt)` for its `models`, `agent_query("A", prompt)` for its `agents` and `graph_run("G", {..})`
  for its `graphs` (registry graphs); variables persist
  across cells; `answer(value)` ends it (`answer(value, route="LABEL")` picks a declared label,
  else `ok`). `max_turns N` (1..100, default 8; reaching it takes the `error` route),
  `limits { max_calls N  max_operations N  max_output_bytes N  max_depth N  timeout_s 30s ... }`,
  `script "setup.ragsh"` (a file next to the `.rag` file, run as the first cell).
- A `kind agent` node may set `memory "STORE"` (or a list: registry memory stores; what it
  remembered in earlier runs is recalled into its task, and it gets `memory_save` /
  `memory_search` tools) and `skills ["NAME"]` (each skill's instructions join its system
  prompt and its tools join its tools), as a registry agent's `memory` and `skills` do.
- A `subagent` may set `model "NAME"` (replaces its registry model; the policy must grant it)
  and `schema { field: type }` (its result is then that object: route on it with a router,
  `when state.verdict.approve == true`).
"""

_RUNTIME_RULES = """\
## Run-time rules

- `max_steps` (graph `defaults`, default 1000) counts node runs over the whole run; `max_visits N`
  counts one node's runs. Exceeding either fails the run (`E0901`/`E0902`); an `error` route
  does not catch it. A loop needs a way out (a route to a node outside it) and `max_visits` on
  one of its nodes.
{retry_rules}
- Join policies: `all` (default), `any` or `first` (the first success), `quorum N` (N
  successes); `tolerate N` failures allowed. `any`/`first`/`quorum` cancel the branches still
  running once met (their writes are dropped). Only succeeded branches' writes merge, in branch
  order.
- Join `timeout D` (from the fork): pending branches are cancelled and count as failed; if the
  policy is then not met, the run fails (`E0910`), unless the join is a `kind join` node with an
  `error` route, which is taken.
- `blocking false`: the node runs in the background on a snapshot of the state; control goes on
  at its `next` at once. Its writes land in the state when it ends (later nodes may not see
  them); the run completes only after it ended. If it fails, the failure goes to `errors` and
  the run does not fail.
- `interrupt`: the run stops with status `interrupted` until a human answers (one of
  `options`). After its `timeout`, resuming without an answer uses its `default`.
- `command { update { ch: v } }` writes go through the channel's reducer (an `append` channel
  gets `v` appended); `result` is the node's own result there.
- `x in y`: substring when both are strings, membership in a list, key of an object.
  `not in` is the negation.
- `send [ t { .. } for item in state.X ]` is expanded after the sending node wrote its own
  output, so `state.X` includes it; each branch sees `item` and `payload`.
- Errors: a failed `subagent`/`subgraph`/`tool`/`function`/`join` node takes its `error`
  route if it has one (`{{ error.message }}` is bound); otherwise the run fails.
"""


def _retry_rules() -> str:
    """The ``retry`` bullet of :data:`RUNTIME_RULES`, its lists taken from
    :mod:`ragc.kinds` (the checker's own lists), wrapped at 100 columns."""
    text = ("- `retry { max_attempts N }` counts the first attempt: `max_attempts 3` = 1 try + 2 retries. "
            f"Allowed values: `backoff {'|'.join(BACKOFF_SCHEDULES)}`, `jitter true|false`, "
            f"`on [{', '.join(RETRY_ON)}]`. Without `on`, every retryable failure is retried; "
            + ", ".join(sorted(NEVER_RETRIED_KINDS)) + " failures never are. "
            "Node and provider retries do not multiply: a node with `retry` (max_attempts > 1) owns the "
            "transient model-call kinds its `on` covers (all of them without `on`), and inside its attempts "
            "the provider layer does not retry those kinds (the model's `max_retries` still applies to the "
            "others); `retry { max_attempts 3 on [server] }` on a failing server makes 3 calls, not 3 x "
            "(1 + max_retries).")
    return textwrap.fill(text, 100, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)


RUNTIME_RULES = _RUNTIME_RULES.replace("{retry_rules}", _retry_rules())
"""The "Run-time rules" section of ``ragc spec``."""

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


@dataclass(frozen=True)
class RegistryDetails:
    """What an author needs about registry entries beyond their names.

    Args:
        agents: agent name -> (output channel or None, its tools, the ``input`` keys its prompt reads).
        tools: tool name -> JSON schema (object) of its arguments.
    """

    agents: Mapping[str, tuple[str | None, Sequence[str], Sequence[str]]]
    tools: Mapping[str, Mapping]


def compact_schema(schema: Mapping) -> str:
    """A JSON schema of tool arguments in one line: ``{path: string, limit?: integer}``
    (``?`` = not required; enums as ``"a"|"b"``)."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    parts = []
    for name, sub in props.items():
        if "enum" in sub:
            t = "|".join(f'"{v}"' for v in sub["enum"])
        else:
            t = sub.get("type", "any")
            if isinstance(t, list):
                t = "|".join(t)
            if t == "array":
                t = f"list[{(sub.get('items') or {}).get('type', 'any')}]"
        parts.append(f"{name}{'' if name in required else '?'}: {t}")
    return "{" + ", ".join(parts) + "}"


def details_markdown(details: RegistryDetails) -> str:
    """The agents (output channel, tools) and tools (argument schema) lines."""
    lines = []
    if details.agents:
        lines += ["", "Agents (a `subagent` or a `send` target writes its answer to the agent's output "
                  "channel, unless the node sets `output`; declare that channel):"]
        for name, (output, tools, keys) in details.agents.items():
            t = ", ".join(f'"{x}"' for x in tools) or "none"
            k = ", ".join(keys) or "any"
            lines.append(f'- "{name}": input {{ {k} }}, output `{output or "(the graph messages channel)"}`, tools {t}')
    if details.tools:
        lines += ["", "Tools and their `args` (a `tool` node: `tool \"NAME\"` + `args { .. }`; `?` = optional):"]
        for name, schema in details.tools.items():
            lines.append(f'- "{name}" {compact_schema(schema)}')
    return "\n".join(lines)


def registry_markdown(names: Mapping[str, Sequence[str]] | None, note: str | None = None,
                      details: RegistryDetails | None = None) -> str:
    """The registry names section; ``names`` maps a table (``"models"``) to its names;
    ``details`` adds agents' output channels and tools, and tools' argument schemas."""
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
    for table, use in (("memory", "an agent node's `memory`"), ("skills", "an agent node's `skills`")):
        entries = list(names.get(table, ()))
        if entries:  # listed only when the registry has some
            lines.append(f"- {table} ({use}): " + ", ".join(f'"{n}"' for n in entries))
    if details is not None:
        lines.append(details_markdown(details))
    return "\n".join(lines)


def render_spec(grammar: str, kinds: KindTable | None = None,
                registry: Mapping[str, Sequence[str]] | None = None, registry_note: str | None = None,
                details: RegistryDetails | None = None) -> str:
    """The whole reference as Markdown.

    Args:
        grammar: the text of ``rag.lark``.
        kinds: the node-kind table (omitted from the output when None).
        registry: table name -> entry names available to workflows.
        registry_note: one line about where the names come from.
        details: agents' outputs and tools, tools' argument schemas.
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
        RUNTIME_RULES.rstrip(),
        "",
    ]
    if kinds is not None:
        parts += ["## Node kinds", "", kinds_markdown(kinds), ""]
    parts += ["## Example", "", "```rag", EXAMPLE.rstrip(), "```", "",
              registry_markdown(registry, registry_note, details), ""]
    return "\n".join(parts)
