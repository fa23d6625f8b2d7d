"""Catalogue entries of the checker (``E01xx``..``E07xx``) and the registry
loader (``E08xx``); merged into :func:`ragc.diagnostics.codes.catalogue`.

Every ``.rag`` example is checked against the repository's ``registry.toml``
by ``tests/check/test_codes.py``, which asserts that it reports its code; every
``toml`` example is loaded as a registry and must report its code.
"""

from __future__ import annotations

from ragc.diagnostics.codes import CodeInfo


def _e(code: str, title: str, explanation: str, example: str, lang: str = "rag") -> CodeInfo:
    return CodeInfo(code, "error" if code[0] == "E" else "warning", title, explanation, example, lang)


NAMES = (
    _e("E0101", "unknown node",
       "A `next`, route, `command { goto }`, edge, join or `start` names a node the graph does "
       "not declare. `END` ends the branch. Check the spelling; the help line suggests the "
       "closest node name.",
       """
graph g {
  start a
  node a { kind model  next reviw }
  node review { kind model }
}
"""),
    _e("E0102", "duplicate node",
       "Two nodes of one graph have the same name. Rename one of them; the secondary label "
       "points at the first definition.",
       """
graph g {
  start a
  node a { kind model }
  node a { kind model }
}
"""),
    _e("E0103", "duplicate graph",
       "Two graphs of one file have the same name.",
       """
graph g { start a  node a { kind model } }
graph g { start a  node a { kind model } }
"""),
    _e("E0104", "duplicate channel",
       "A channel is declared twice in one graph. Keep one declaration.",
       """
graph g {
  start a
  channel notes append
  channel notes last
  node a { kind model  output notes }
}
"""),
    _e("E0105", "missing `start`",
       "Every graph needs `start NODE`: the first node a run executes.",
       """
graph g {
  node a { kind model }
}
"""),
    _e("E0106", "unknown model",
       "A `model \"NAME\"` is not a `[models.NAME]` entry of the registry. Model and agent "
       "nodes without `model` use `\"default\"`, which must then exist.",
       """
graph g {
  start a
  node a { kind model  model "gtp4" }
}
"""),
    _e("E0107", "unknown tool",
       "A tool name (in `tool`, `tools` or `allow tools`) is not a `[tools.NAME]` entry of the "
       "registry.",
       """
graph g {
  start a
  node a { kind agent  tools ["serch"] }
}
"""),
    _e("E0108", "unknown agent",
       "A subagent's `agent \"NAME\"` is not a registry agent (`[agents.NAME]` or an "
       "`.agents/NAME/AGENT.md` folder next to the registry).",
       """
graph g {
  start a
  node a { kind subagent  agent "reseach_agent" }
}
"""),
    _e("E0109", "unknown graph",
       "A subgraph's `graph \"NAME\"` is neither a graph of this file nor a `[graphs.NAME]` "
       "entry of the registry.",
       """
graph g {
  start a
  node a { kind subgraph  graph "helper" }
}
"""),
    _e("E0110", "unknown reducer",
       "A channel's reducer is not one of the built-ins (`last`, `append`, `messages`, "
       "`merge`, `sum`, `union`, `min`, `max` and their aliases `overwrite`, `last_value`, "
       "`topic`, `aggregate`, `delta`) nor a registry `[reducers.NAME]`.",
       """
graph g {
  start a
  channel notes apend
  node a { kind model  output notes }
}
"""),
    _e("E0111", "unknown function",
       "A `function \"NAME\"` (router function or function node) is not a registry "
       "`[functions.NAME]` entry.",
       """
graph g {
  start a
  node a { kind function  function "score" }
}
"""),
    _e("E0112", "unknown store",
       "A graph's `store \"NAME\"` (where its runs are journaled) is not a registry "
       "`[stores.NAME]` entry.",
       """
graph g {
  store "jornal"
  start a
  node a { kind model }
}
"""),
    _e("E0113", "duplicate route label",
       "Two routes of one node have the same label, so the second could never be chosen.",
       """
graph g {
  start a
  node a {
    kind model
    routes { yes -> b  yes -> END }
  }
  node b { kind model }
}
"""),
    _e("E0114", "unknown name in an expression",
       "A path starts with a name that is not bound: the roots are `input`, `state`, "
       "`result` (the node's own result, in `command { update }`, route conditions and "
       "send payloads), `payload` and the `for` variable (inside a fan-out branch) and "
       "`error`. To pass text, quote it.",
       """
graph g {
  start a
  node a { kind model  prompt inptu.question }
}
"""),
    _e("E0115", "name not bound here",
       "A known root is used where it has no value: `result` only exists after the node "
       "ran (in `command { update }`, route conditions and send payloads); `payload` and "
       "the `for` variable only inside a fan-out branch.",
       """
graph g {
  start a
  node a { kind model  prompt result.text }
}
"""),
    _e("E0116", "reserved name",
       "`END` is the pseudo-node that ends a branch and cannot name a node.",
       """
graph g {
  start a
  node a { kind model  next END }
  node END { kind model }
}
"""),
    _e("E0117", "unknown entry graph",
       "`--graph NAME` (or the API's `graph=`) names no graph of the file, or the file has no graph "
       "at all.",
       """
// ragc compile flow.rag --graph mian
graph main { start a  node a { kind model } }
"""),
    _e("E0118", "cannot read file",
       "A `.rag` file given on the command line (or to `compile_file`) could not be read, or is "
       "not UTF-8 text. `ragc` reports it and exits with status 2.",
       """
// ragc check missing.rag
"""),
)

KINDS = (
    _e("E0201", "unknown node kind",
       "`kind` must be one of `model`, `agent`, `tool`, `router`, `subagent` (lenient "
       "`sub_agent`), `subgraph` (lenient `graph`), `interrupt`, `join`, `function`.",
       """
graph g {
  start a
  node a { kind modle }
}
"""),
    _e("E0202", "missing `kind`",
       "Every node needs `kind`: it decides which fields the node takes and what it does "
       "(`model`, `agent`, `tool`, `router`, `subagent`, `subgraph`, `interrupt`, `join`, "
       "`function`). A node without `kind` whose fields all fit a model node is upstream's "
       "default model node (`ragc fmt` writes `kind model`); this error is for the others.",
       """
graph g {
  start a
  node a { options ["yes", "no"] }
}
"""),
    _e("E0203", "field not allowed here",
       "The field is not one of the fields of this node kind (see the kind table in "
       "`docs/language.md`), or is unknown. Remove it or fix the spelling.",
       """
graph g {
  start a
  node a { kind model  promt "hi" }
}
"""),
    _e("E0204", "missing required field",
       "The node kind needs this field: `router` needs `routes` (or `function`), "
       "`subagent` needs `agent`, `subgraph` needs `graph`, `interrupt` needs `prompt`, "
       "`join` needs `sources`, `function` needs `function`.",
       """
graph g {
  start a
  node a { kind subagent }
}
"""),
    _e("E0205", "wrong value type",
       "The value has the wrong type for the field: e.g. `timeout` takes a duration "
       "(`30s`), `max_iterations` an integer, `tools` a list of strings, `output` a "
       "channel name.",
       """
graph g {
  start a
  node a { kind model  timeout "x" }
}
"""),
    _e("E0206", "value out of range",
       "The value has the right type but is outside the allowed range (e.g. "
       "`max_iterations` must be at least 1, `temperature` between 0 and 2).",
       """
graph g {
  start a
  node a { kind agent  max_iterations -1 }
}
"""),
    _e("E0207", "duplicate field",
       "A field is given twice in one block; only one value can apply.",
       """
graph g {
  start a
  node a { kind model  model "default"  model "fast" }
}
"""),
    _e("E0208", "conflicting fields",
       "Two fields contradict each other: `args` without `tool` on a tool node, or "
       "`function` together with route conditions on a router.",
       """
graph g {
  start a
  node a { kind tool  args { path: "x" } }
}
"""),
    _e("E0209", "unknown setting",
       "A key inside a settings block (`retry`, `budget`, `defaults`, `command`, a join "
       "block, channel options) is not one this block knows.",
       """
graph g {
  start a
  node a {
    kind model
    retry { max_attempt 3 }
  }
}
"""),
    _e("E0210", "unknown graph item",
       "A graph-level setting is not one of `start`, `defaults`, `budget`, `metadata`, "
       "`description`, `store`.",
       """
graph g {
  strat a
  start a
  node a { kind model }
}
"""),
    _e("E0211", "invalid `allow`",
       "A graph may `allow tools`, `allow models` and `allow agents`; a node may only "
       "`allow tools`. The value is a list of registry names.",
       """
graph g {
  start a
  allow widgets ["x"]
  node a { kind model }
}
"""),
)

ROUTING = (
    _e("E0301", "more than one routing form",
       "A node routes by exactly one of `next`, `routes`, `command { goto }`, top-level "
       "`edge`s from it, `send` (with its `join`), or being a source of a top-level "
       "`join`. Pick one.",
       """
graph g {
  start a
  node a {
    kind model
    next b
    routes { x -> b }
  }
  node b { kind model }
}
"""),
    _e("E0302", "route label cannot be chosen",
       "Who picks a label depends on the kind: `subagent`, `subgraph`, `tool`, "
       "`function` and `join` nodes only produce `ok` or `error`.",
       """
graph g {
  start a
  channel reviews append
  node a {
    kind subagent
    agent "reviewer"
    routes { done -> END }
  }
}
"""),
    _e("E0303", "interrupt routes do not match its options",
       "An interrupt's route labels are the human's possible answers, so they must equal "
       "its `options`.",
       """
graph g {
  start a
  node a {
    kind interrupt
    prompt "Publish?"
    options ["yes", "no"]
    routes { yes -> END  maybe -> END }
  }
}
"""),
    _e("E0304", "`tool_call`/`final` outside a model/tool loop",
       "The labels `tool_call` and `final` are decided by whether a model's reply has tool "
       "calls; they only exist on `model` nodes that have `tools`.",
       """
graph g {
  start a
  node a {
    kind router
    routes { tool_call -> END }
  }
}
"""),
    _e("E0305", "loop without exit",
       "A cycle of nodes has no route leaving it, so a run entering it never ends (it "
       "would stop at `max_steps`). Add a route out of the loop.",
       """
graph g {
  start a
  node a { kind model  next b }
  node b { kind model  next a }
}
"""),
    _e("E0306", "subgraph recursion",
       "A graph runs itself as a subgraph, directly or through other graphs. Recursion is "
       "not supported; restructure as a loop.",
       """
graph g {
  start a
  node a { kind subgraph  graph "g" }
}
"""),
    _e("E0307", "interrupt default is not an option",
       "An interrupt's `default` (the answer used after its `timeout`) must be one of its "
       "`options`.",
       """
graph g {
  start a
  node a {
    kind interrupt
    prompt "Publish?"
    options ["publish", "revise"]
    timeout 10m
    default "skip"
  }
}
"""),
    _e("E0308", "detached node routes other than by `next`",
       "A `blocking false` node runs detached and control continues at its `next` at once; "
       "it may only route by `next` (or not at all).",
       """
graph g {
  start a
  node a {
    kind model
    blocking false
    routes { x -> END }
  }
}
"""),
    _e("E0309", "`when` on a route not chosen by conditions",
       "Route conditions are only evaluated by `router` nodes without `function`; "
       "elsewhere the model, the human, the function or the outcome picks the label.",
       """
graph g {
  start a
  node a {
    kind model
    routes { yes -> END when input.ok }
  }
}
"""),
    _e("W0301", "loop bounded only by model choice",
       "The only ways out of this loop are labels a model picks, and no node of the loop "
       "has `max_visits`: a model that keeps choosing the loop runs until `max_steps`. "
       "The same holds for a loop left only by `error` outcome routes (\"loop left only on "
       "failure\"): while every call succeeds it never ends. "
       "Add `max_visits` to a node of the loop, or leave by a router condition or an "
       "interrupt.",
       """
graph g {
  start a
  node a {
    kind model
    routes { again -> a  done -> END }
  }
}
"""),
    _e("W0302", "route is never taken",
       "A router picks the first route whose condition holds; a route after one without "
       "`when` can never be chosen.",
       """
graph g {
  start a
  node a {
    kind router
    routes { x -> END  y -> END when input.go }
  }
}
"""),
    _e("W0303", "unreachable node",
       "No path from `start` reaches this node, so it never runs.",
       """
graph g {
  start a
  node a { kind model }
  node b { kind model }
}
"""),
    _e("W0304", "router may match no route",
       "Every route of this router has a `when` condition; when none holds the run fails "
       "(`E0903`). End with a route without `when` as the fallback.",
       """
graph g {
  input { n: int }
  start a
  node a {
    kind router
    routes { big -> END when input.n > 3 }
  }
}
"""),
)

JOINS = (
    _e("E0401", "join source routes itself",
       "The sources of a top-level `join [a, b] -> c` arrive at the join when they "
       "complete; the join routes to `c`. A source with its own routing would leave the "
       "join waiting. (`next c` to the join's own target is upstream's spelling of the same "
       "join and is removed by `ragc fmt`.)",
       """
graph g {
  start f
  node f { kind model  next [a, b] }
  node a { kind model  next d }
  node b { kind model }
  node c { kind model }
  node d { kind model }
  join [a, b] -> c
}
"""),
    _e("E0402", "`send` without targets",
       "A `send` needs at least one entry `target { payload }`.",
       """
graph g {
  start a
  node a { kind model  send [] }
}
"""),
    _e("E0403", "ambiguous send target",
       "A send target names both a node of the graph and a registry agent, so it is not "
       "clear whether the branch runs the node or the agent. Rename the node.",
       """
graph g {
  start a
  channel reviews append
  node a { kind model  send [ reviewer { diff: "x" } ] }
  node reviewer { kind model }
}
"""),
    _e("E0404", "unknown send target",
       "A send target is neither a node of the graph nor a registry agent.",
       """
graph g {
  start a
  node a { kind model  send [ reviewr { diff: "x" } ] }
}
"""),
    _e("E0405", "join source not reachable from its fork",
       "A join waits for its sources, but this source cannot be reached from the fork that "
       "starts the join's branches, so the join would never fire.",
       """
graph g {
  start f
  node f { kind model  next [a, b] }
  node a { kind model }
  node b { kind model }
  node c { kind model }
  node x { kind model }
  join [a, x] -> c
}
"""),
    _e("E0406", "join fed from different forks",
       "Every source of a join must come from one fork (`next [a, b]`, several edges, or a "
       "`send`). Sources from different forks (or no fork) would make the join wait for "
       "branches that were never started together.",
       """
graph g {
  start f
  node f { kind model  next [a, b] }
  node a { kind model }
  node b { kind model }
  join [a, b] -> h
  node h { kind model  next [c, d] }
  node c { kind model }
  node d { kind model }
  join [b, c] -> e
  node e { kind model }
}
"""),
    _e("E0407", "skippable join source is not optional",
       "A conditional route may skip this join source, and a join waiting for it would "
       "never fire. Mark the source `optional true` (a skipped optional branch neither "
       "succeeds nor fails), or route every branch through it.",
       """
graph g {
  input { urgent: bool }
  start f
  node f { kind model  next [r, b] }
  node r {
    kind router
    routes { go -> a when input.urgent  skip -> END }
  }
  node a { kind model }
  node b { kind model }
  node c { kind model }
  join [a, b] -> c
}
"""),
    _e("E0408", "`join` without `send`",
       "A node-level `join X` continues after the node's `send` branches; without a `send` "
       "there is nothing to join. Use `next X`.",
       """
graph g {
  start a
  node a { kind model  join b }
  node b { kind model }
}
"""),
    _e("E0409", "invalid join policy",
       "Policies are `all`, `any` (alias `first`) and `quorum N`, with `N` at least 1 and "
       "at most the number of branches; `tolerate` is an integer >= 0.",
       """
graph g {
  start a
  channel reviews append
  node a {
    kind model
    send [ reviewer { diff: "x" }, reviewer { diff: "y" } ]
    join b { policy quorum 3 }
  }
  node b { kind model }
}
"""),
    _e("E0410", "detached node in a join",
       "A `blocking false` node runs detached and joins do not wait for it, so it cannot be "
       "a join source.",
       """
graph g {
  start f
  node f { kind model  next [a, b] }
  node a { kind model  blocking false }
  node b { kind model }
  node c { kind model }
  join [a, b] -> c
}
"""),
    _e("E0411", "`max_concurrency` without a fork",
       "A node's `max_concurrency` bounds the branches of its own `send` (or `next [...]`); "
       "the node has none. Use `defaults { max_concurrency N }` for the graph.",
       """
graph g {
  start a
  node a { kind model  max_concurrency 2 }
}
"""),
)

CHANNELS = (
    _e("E0501", "write conflict",
       "Two branches that may run at the same time write one `last` channel, so the value "
       "left would depend on branch order. Use a merging reducer (`append`, `merge`, ...), "
       "separate channels, or a join so the writes happen one after the other.",
       """
graph g {
  start f
  channel answer last
  node f { kind model  next [a, b] }
  node a { kind model  output answer }
  node b { kind model  output answer }
}
"""),
    _e("E0502", "write to an undeclared channel",
       "A node writes (through `output`, `command { update }` or its agent's registry "
       "`output`) to a channel the graph does not declare. Declare it with "
       "`channel NAME REDUCER`; when no declared channel has a near name, the "
       "diagnostic carries a machine-applicable `channel NAME last` (`ragc check "
       "--fix` adds it after the last channel declaration).",
       """
graph g {
  start a
  node a { kind model  output notes }
}
"""),
    _e("E0503", "read of an undeclared channel",
       "`state.NAME` (in a path or a template) reads a channel the graph does not declare.",
       """
graph g {
  start a
  channel notes append
  node a { kind model  prompt "Go on from {{ state.note }}"  output notes }
}
"""),
    _e("E0504", "reserved channel `errors`",
       "The channel `errors` is built in (reducer `append`): failures routed through an "
       "`error` route and tolerated branch failures are appended to it. Do not declare it.",
       """
graph g {
  start a
  channel errors append
  node a { kind model }
}
"""),
    _e("E0505", "invalid channel option",
       "Channel options are `default` (initial value) and `max_items` (an integer >= 1, for "
       "`append` and `messages` channels).",
       """
graph g {
  start a
  channel answer last { max_items 3 }
  node a { kind model  output answer }
}
"""),
    _e("E0506", "channel must use the `messages` reducer",
       "The split model/tool loop keeps the conversation in a `messages` channel: a `tool` "
       "node without `tool` runs the pending tool calls of the last assistant message of "
       "its `output`, which must therefore be a messages channel. (A `tool` node without `tool` "
       "that no `tool_call` route feeds is reported as missing `tool`, `E0204`.)",
       """
graph g {
  start think
  channel log append
  node think {
    kind model
    tools ["search"]
    max_visits 3
    output log
    routes {
      tool_call -> act
      final -> END
    }
  }
  node act { kind tool  output log  next think }
}
"""),
    _e("W0501", "unused channel",
       "No node writes or reads this channel.",
       """
graph g {
  start a
  channel notes append
  node a { kind model }
}
"""),
)

POLICY = (
    _e("E0601", "capability not granted by policy",
       "The workflow uses a tool, model, agent or function that the registry policy "
       "(`[policies.default]`, or `[policies.untrusted]` with `--untrusted`) does not grant.",
       """
// ragc check --untrusted flow.rag
graph g {
  start a
  node a { kind tool  tool "write_file"  args { path: "x", content: "y" } }
}
"""),
    _e("E0602", "`allow` widens the policy",
       "`allow` may only narrow what the registry policy grants; listing something the "
       "policy (or, for a node, the graph's `allow`) does not grant is an error.",
       """
graph g {
  start a
  allow tools ["search"]
  node a {
    kind agent
    tools ["search"]
    allow tools ["search", "read_file"]
  }
}
"""),
    _e("E0603", "capability outside `allow`",
       "A node uses a tool, model or agent that its graph's (or its own) `allow` list "
       "excludes.",
       """
graph g {
  start a
  allow tools ["search"]
  node a { kind agent  tools ["read_file"] }
}
"""),
    _e("E0604", "limit exceeds the policy",
       "A limit (`max_steps`, `max_concurrency`, `max_visits`, `timeout`, "
       "`max_subgraph_depth`) or budget is larger than the registry policy allows.",
       """
graph g {
  defaults { max_steps 100000 }
  start a
  node a { kind model }
}
"""),
)

SCHEMAS = (
    _e("E0701", "unknown type",
       "Schema types are `string`, `int`, `float`, `bool`, `any`, `list[T]`, `dict[T]`, "
       "with `?` for optional.",
       """
graph g {
  input { topic: strng }
  start a
  node a { kind model }
}
"""),
    _e("E0702", "wrong number of type arguments",
       "`list` and `dict` take one type argument (`list[string]`); the scalar types take "
       "none.",
       """
graph g {
  input { tags: list[string, int] }
  start a
  node a { kind model }
}
"""),
    _e("E0703", "duplicate schema field",
       "A field appears twice in one `input`, `output` or `schema` block.",
       """
graph g {
  input { topic: string  topic: int }
  start a
  node a { kind model }
}
"""),
    _e("E0704", "default does not match the type",
       "An input field's default value is not of the declared type.",
       """
graph g {
  input { rounds: int = "three" }
  start a
  node a { kind model }
}
"""),
    _e("E0705", "output field is not a channel",
       "A graph's `output { ... }` names the channels the run returns; each name must be a "
       "declared channel.",
       """
graph g {
  output { verdict: string }
  start a
  node a { kind model }
}
"""),
    _e("E0706", "unknown input field",
       "`input.NAME` (in a path or a template) reads a field the graph's `input { ... }` "
       "schema does not declare.",
       """
graph g {
  input { topic: string }
  start a
  node a { kind model  prompt "Write about {{ input.topc }}" }
}
"""),
    _e("E0707", "subgraph input does not match",
       "A subgraph node's `input { ... }` must provide every required field of the "
       "subgraph's `input` schema, and only fields it declares.",
       """
graph main {
  start a
  node a { kind subgraph  graph "helper"  input { text: "x" } }
}
graph helper {
  input { topic: string }
  start b
  node b { kind model }
}
"""),
    _e("E0708", "template syntax error",
       "A string containing `{{` or `{%` is a Jinja2 template, and this one does not parse.",
       """
graph g {
  start a
  node a { kind model  prompt "Hello {{ input.name " }
}
"""),
    _e("E0709", "default inside an object type",
       "Fields of an object type (`{ name: T, ... }`) describe the shape of a value and "
       "cannot have defaults; give defaults to the top-level fields of an `input` block.",
       """
graph g {
  start a
  node a { kind model  schema { task: { title: string = "untitled" } } }
}
"""),
)

REGISTRY = (
    _e("E0801", "registry is not valid TOML",
       "The registry file does not parse as TOML; the location is the parser's.",
       """
[models.default]
provider = "local
""", "toml"),
    _e("E0802", "unknown registry key",
       "A key is not part of the registry schema (`docs/registry.md`); unknown keys are "
       "errors so that a typo is not silently ignored.",
       """
[agents.helper]
modle = "default"
""", "toml"),
    _e("E0803", "invalid registry value",
       "A registry value has the wrong type or is out of range, or an entry is incomplete "
       "(e.g. a tool with neither `builtin` nor `python`).",
       """
[agents.helper]
max_iterations = "many"
""", "toml"),
    _e("E0804", "invalid duration",
       "Registry durations are numbers of seconds or strings such as `\"250ms\"`, `\"30s\"`, "
       "`\"5m\"`, `\"1h\"`.",
       """
[tools.shell]
builtin = "run_command"
timeout = "two minutes"
""", "toml"),
    _e("E0805", "missing registry key",
       "A required key of an entry is missing (e.g. `provider` of a model).",
       """
[models.default]
source = "qwen2.5-coder-0.5b"
""", "toml"),
    _e("E0806", "cannot read registry",
       "The registry file (or an `AGENT.md`) could not be read.",
       """
# ragc check --registry missing.toml flow.rag
""", "toml"),
    _e("E0807", "unknown name in the registry",
       "A registry entry refers to another entry that does not exist: an agent's `model` "
       "or `tools`, a model's `fallbacks`, a policy's allow lists.",
       """
[agents.helper]
model = "defualt"
""", "toml"),
    _e("E0808", "registry file not found",
       "A path in the registry (`[graphs.*] path`, an agent's `system_file`, a scripted "
       "model's `script`) does not exist, relative to the registry's directory.",
       """
[graphs.helper]
path = "missing.rag"
""", "toml"),
    _e("E0809", "invalid agent folder",
       "An `.agents/NAME/AGENT.md` folder could not be turned into an agent: bad front "
       "matter (`key: value` lines between `---` lines) or an unknown key in it.",
       """
# .agents/helper/AGENT.md
# ---
# modle: default
# ---
# You help.
""", "toml"),
    _e("E0810", "registry graph has errors",
       "A `[graphs.NAME]` used as a subgraph does not compile: its file has errors, or it "
       "has no graph of that name.",
       """
[graphs.helper]
path = "helper.rag"
graph = "nope"
""", "toml"),
    _e("E0890", "registry file unsafe to read",
       "A file the registry names (`[graphs.*] path`, an agent's `system_file`, a scripted model's "
       "`script`, `AGENT.md`) is not a regular text file: a FIFO or a device (which would block "
       "or never end), a directory, a file over 4 MiB, a NUL byte in its name or its text. It is "
       "judged by `stat` and never read.",
       """
[graphs.helper]
path = "/dev/zero"
""", "toml"),
    _e("E0891", "secret with a control character",
       "The value of a `${VAR}` in a secret field (`api_key`, `api_keys`) has a control character "
       "other than a trailing newline (which is removed, with warning W0891), or a key written "
       "in the registry has one. `ragc check` reports it for variables set at check time; a run "
       "refuses the value. No message shows it: secrets are redacted by value from every error, event and "
       "journal record.",
       """
[models.remote]
provider = "openai"
model = "gpt-4o-mini"
api_key = "sk-abc\\u0001def"
""", "toml"),
    _e("W0801", "no registry found",
       "No registry was given and none was found (`registry.toml` in the current directory or a "
       "parent up to the project root, then `~/.config/ragc/registry.toml`); the workflow is "
       "checked against an empty one.",
       """
# (no registry.toml in the current directory, its parents or ~/.config/ragc)
""", "toml"),
)

UPSTREAM = (
    _e("E0290", "unsupported checkpoint policy",
       "Upstream's `checkpoint X` (a graph item or a `defaults` key). ragc journals every node "
       "completion before its successors start, which is upstream's `always` (and `inherit`, "
       "the host default); those are accepted and removed by `ragc fmt`. Other policies cannot "
       "be honoured.",
       """
graph g {
  start a
  checkpoint never
  node a { kind model }
}
"""),
    _e("E0291", "unsupported interrupt policy",
       "Upstream's graph-level `interrupt X`. A ragc `interrupt` node persists the run and stops "
       "until it is answered, which is upstream's `manual` (accepted and removed by `ragc fmt`). "
       "To continue without a person, give the interrupt node a `timeout` and a `default`.",
       """
graph g {
  start a
  interrupt auto
  node a { kind model }
}
"""),
    _e("E0292", "`repl_agent` that cannot be mapped",
       "Upstream's `kind repl_agent` (a REPL agent, with `script` a fixed prologue) is ragc's "
       "`kind repl` (docs/repl.md): the rewrite maps it when its `script` is one plain string, "
       "a `.ragsh` file next to the `.rag` file that runs as the first cell. A `script` of another "
       "shape (a list, a template) has no ragc meaning: write `kind repl` with one `script`.",
       """
graph g {
  start a
  node a { kind repl_agent  script ["setup.ragsh", "more.ragsh"] }
}
"""),
    _e("E0293", "reducer arguments are not supported",
       "Upstream wrote reducer arguments after the reducer (`channel c aggregate \"f\"`). "
       "`aggregate \"NAME\"` is the custom reducer NAME (`channel c NAME`) and `barrier N` an "
       "`append` channel (upstream's barrier channel merged writes into a list of arrivals; the "
       "count, which only a host query read, is kept in the graph's metadata); other arguments "
       "have no ragc meaning (to wait for branches, write a `join`). Upstream bound a reducer by its name alone "
       "and handed the arguments to its host unread, so for `aggregate \"NAME\" 3` ragc does not "
       "guess what `3` meant: register a reducer with it built in and write `channel c NAME`.",
       """
graph g {
  start a
  channel arrivals aggregate "longest" 3
  node a { kind model }
}
"""),
    _e("E0294", "named input mappings are not supported",
       "Upstream's `input \"NAME\"` and `send target \"NAME\"` named an input mapping of the "
       "host. ragc has no registry of mappings: write the input or payload as an object.",
       """
graph g {
  start a
  channel findings append
  node a { kind subagent  agent "research_agent"  input "topic" }
}
"""),
    _e("E0295", "`steering` is not supported",
       "Upstream parsed `steering { parent allow [...] human allow [...] delivery \"...\" }` "
       "and its compiler rejected it. ragc has no steering policy for child agents either.",
       """
graph g {
  start a
  channel findings append
  node a {
    kind subagent
    agent "research_agent"
    steering { parent allow ["add_instruction", "cancel"] }
  }
}
"""),
)

TOOL_ARGS = (
    _e("W0290", "unknown tool argument",
       "The `args` of a `tool` node name an argument the tool's schema does not have "
       "(`ragc spec` lists each tool's arguments).",
       """
graph g {
  start a
  node a { kind tool  tool "search"  args { query: "x", max_result: 3 } }
}
"""),
    _e("W0291", "missing tool argument",
       "The tool's schema requires an argument that the node's `args` do not give.",
       """
graph g {
  start a
  node a { kind tool  tool "search"  args { path: "src" } }
}
"""),
    _e("W0292", "tool argument of the wrong type",
       "A literal in `args` has another JSON type than the tool's schema asks for (a string "
       "for an integer, ...). Paths and templates are typed at run time.",
       """
graph g {
  start a
  node a { kind tool  tool "search"  args { query: "x", max_results: "3" } }
}
"""),
)

CODES: tuple[CodeInfo, ...] = (NAMES + KINDS + ROUTING + JOINS + CHANNELS + POLICY + SCHEMAS + REGISTRY + UPSTREAM
                               + TOOL_ARGS)
