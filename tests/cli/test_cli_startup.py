"""Startup: the CLI imports only what the command it runs uses (the wall
times themselves are measured by ``bench/startup.py``, not here).

Each check runs in a fresh interpreter and looks at ``sys.modules`` after
the command, so an import added at the top of a shared module shows up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clikit import WORKFLOW

TOOL_WORKFLOW = """
graph reader {
  input { path: string }
  output { text: string }
  start read
  channel text last
  node read {
    kind tool
    tool "read_file"
    args { path: input.path }
    output text
    next END
  }
}
"""

from ragc.cli import main as cli_main

# Never needed to check a file or to run a scripted workflow from a pipe.
SERVERS = ("ragc.lsp", "ragc.serve", "ragc.repl", "pygls", "uvicorn", "starlette", "shtab")
# The provider implementations (ragc.harness.providers itself only maps names to them).
PROVIDERS = tuple(f"ragc.harness.providers.{name}" for name in
                  ("openai", "anthropic", "ollama", "local", "local_grammar", "react", "_http", "scripted"))


def _modules_after(code: str, cwd: Path) -> set[str]:
    """The ``sys.modules`` keys after running ``code`` in a fresh interpreter in ``cwd``."""
    probe = (f"import sys, json\n{code}\n"
             "sys.__stdout__.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / ".no-config"), "NO_COLOR": "1"}
    env.pop("RAGC_DEBUG", None)
    p = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    line = [x for x in p.stdout.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line[len("MODULES "):]))


def _loaded(modules: set[str], names) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def _command(argv: list[str]) -> str:
    # main() returns the exit code; 0 is required so the full path is measured
    return f"from ragc.cli.main import main\ncode = main({argv!r})\nassert code == 0, code"


def test_importing_the_cli_imports_no_http_templates_or_terminal_ui(tmp_path: Path):
    modules = _modules_after("import ragc.cli.main", tmp_path)
    assert _loaded(modules, ("httpx", "jinja2", "rich", "pydantic", "lark", "anyio", "ragc.runtime",
                             "ragc.harness", *SERVERS)) == []


def test_ragc_check_loads_neither_the_runtime_nor_the_providers(proj: Path):
    modules = _modules_after(_command(["check", "hello.rag"]), proj)
    assert "ragc.check.checker" in modules  # the probe did run the command
    assert _loaded(modules, ("httpx", "rich", "ragc.runtime", "ragc.api", "ragc.harness.facade", *PROVIDERS,
                             "ragc.harness.agent", "ragc.cli.run", *SERVERS)) == []


# Built when a node first needs them: a one-node model workflow needs none.
TOOL_MACHINERY = ("ragc.harness.tools.registry", "ragc.harness.tools.builtins", "ragc.harness.tools.python_tools",
                  "ragc.harness.tools.mcp", "ragc.harness.tools.os_sandbox", "ragc.memory", "temporalio",
                  "ragc.temporal")


def test_ragc_run_of_a_scripted_workflow_loads_no_http_client_or_live_view(proj: Path):
    modules = _modules_after(_command(["run", "hello.rag", "--input", "name=Ada"]), proj)
    assert "ragc.harness.providers.scripted" in modules  # the node did call its model
    assert _loaded(modules, ("httpx", "rich", *(p for p in PROVIDERS if not p.endswith(".scripted")),
                             "ragc.cli.check", *TOOL_MACHINERY, *SERVERS)) == []


def test_ragc_run_of_a_workflow_without_templates_loads_no_jinja2(proj: Path):
    (proj / "plain.rag").write_text(WORKFLOW.replace('"Greet {{ input.name }}"', '"Greet the user"'))
    modules = _modules_after(_command(["run", "plain.rag", "--input", "name=Ada"]), proj)
    assert "ragc.harness.providers.scripted" in modules
    assert _loaded(modules, ("jinja2", "httpx", "rich", *TOOL_MACHINERY)) == []


def test_ragc_run_builds_the_tool_registry_when_a_node_calls_a_tool(proj: Path):
    (proj / "notes.txt").write_text("a note\n")
    (proj / "tool.rag").write_text(TOOL_WORKFLOW)
    modules = _modules_after(_command(["run", "tool.rag", "--input", "path=notes.txt"]), proj)
    assert "ragc.harness.tools.registry" in modules and "ragc.harness.tools.builtins" in modules


def test_the_command_table_is_what_the_modules_register():
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == [c for names in cli_main.COMMANDS.values() for c in names]
    for module, names in cli_main.COMMANDS.items():
        for name in names:
            one = cli_main.build_parser(name)
            chosen = next(a for a in one._actions if a.dest == "command")
            assert list(chosen.choices) == list(names), (module, name)


@pytest.mark.parametrize(("argv", "word"), [
    (["check", "x.rag"], "check"),
    (["-q", "run", "x.rag"], "run"),
    (["-vv", "--color", "never", "runs", "list"], "runs"),
    (["--color=always", "resume", "r1"], "resume"),
    (["--help"], None),
    (["chek"], None),
    ([], None),
])
def test_the_command_word_is_found_after_the_global_options(argv, word):
    assert cli_main.command_word(argv) == word


def test_an_unknown_command_still_gets_a_suggestion_from_the_whole_table(proj: Path):
    from clikit import ragc

    r = ragc("chek", "hello.rag", cwd=proj)
    assert r.code == 2 and "did you mean `check`?" in r.err
    r = ragc("--help", cwd=proj)
    assert r.code == 0 and all(name in r.out for names in cli_main.COMMANDS.values() for name in names)
