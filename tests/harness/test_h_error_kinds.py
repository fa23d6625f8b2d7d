"""One vocabulary of failure kinds (issue 10 item 4): ``ragc.kinds.ErrorKind``
is what the harness, the runtime, the checker's ``retry { on [...] }`` and the
docs use."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from ragc.compiler import compile_source
from ragc.harness.errors import RETRYABLE_KINDS, HarnessError, ProviderError, ToolError
from ragc.kinds import (MODEL_CALL_KINDS, NEVER_RETRIED_KINDS, RETRY_ON, RETRY_ON_MATCHES, TRANSIENT_KINDS, ErrorKind,
                        markdown_table)
from ragc.runtime.errors import RunError
from ragc.syntax.spec import RUNTIME_RULES

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ragc"
# The REPL's errors (`ReplError`: `eval`, `refused`) classify Starlark cells, not run failures.
OTHER_VOCABULARIES = ("repl",)


def _raised_kinds() -> dict[str, list[str]]:
    """Every literal ``kind=`` of an error constructed in src/ragc, and every
    ``kind = "..."`` class attribute of an error class, with where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in OTHER_VOCABULARIES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if not (name.endswith("Error") or name == "error"):
                    continue
                for kw in node.keywords:
                    values = [kw.value.body, kw.value.orelse] if isinstance(kw.value, ast.IfExp) else [kw.value]
                    for v in values:
                        if kw.arg == "kind" and isinstance(v, ast.Constant) and isinstance(v.value, str):
                            found.setdefault(v.value, []).append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Exceeded")):
                for stmt in node.body:
                    target = stmt.target if isinstance(stmt, ast.AnnAssign) else (
                        stmt.targets[0] if isinstance(stmt, ast.Assign) else None)
                    if getattr(target, "id", None) == "kind" and isinstance(stmt.value, ast.Constant):
                        found.setdefault(stmt.value.value, []).append(f"{rel}:{stmt.lineno}")
    return found


def test_every_kind_the_source_raises_is_an_error_kind():
    found = _raised_kinds()
    assert {"stream_cut", "journal", "sandbox", "exception"} <= set(found)  # the scan sees all layers
    unknown = {k: where for k, where in found.items() if k not in set(ErrorKind)}
    assert not unknown, f"add these to ragc.kinds.ErrorKind (with a DESCRIPTIONS line): {unknown}"


def test_every_kind_has_a_description_and_the_groups_are_kinds():
    from ragc.kinds import DESCRIPTIONS, KEY_ROTATION_KINDS, RUN_LEVEL_KINDS

    assert set(DESCRIPTIONS) == set(ErrorKind)
    for group in (MODEL_CALL_KINDS, TRANSIENT_KINDS, KEY_ROTATION_KINDS, NEVER_RETRIED_KINDS, RUN_LEVEL_KINDS):
        assert all(isinstance(k, ErrorKind) for k in group)
    assert TRANSIENT_KINDS <= set(MODEL_CALL_KINDS)
    assert not NEVER_RETRIED_KINDS & TRANSIENT_KINDS
    # every `on` name is a kind or one of the group names
    assert {n for n in RETRY_ON if n not in RETRY_ON_MATCHES} <= set(ErrorKind)
    assert set(RETRY_ON_MATCHES) <= set(RETRY_ON)


def test_harness_and_run_errors_carry_the_enum_and_serialise_as_plain_strings():
    assert RETRYABLE_KINDS is TRANSIENT_KINDS
    e = ProviderError("429", kind="rate_limit")
    assert e.kind is ErrorKind.RATE_LIMIT and e.kind == "rate_limit" and e.retryable
    assert ToolError("x").kind is ErrorKind.TOOL and HarnessError("x").kind is ErrorKind.ERROR
    assert HarnessError("x", kind="someone_elses").kind == "someone_elses"  # never masks the failure
    r = RunError("E0904", "timed out", kind="timeout")
    assert r.kind is ErrorKind.TIMEOUT
    d = r.to_dict()
    assert type(d["kind"]) is str and json.loads(json.dumps(d))["kind"] == "timeout"
    assert type(r.error_entry()["error_kind"]) is str
    assert RunError.from_dict(d).kind is ErrorKind.TIMEOUT  # a journal written before the enum reads the same


def test_docs_runtime_md_error_kinds_table_is_generated():
    text = (ROOT / "docs" / "runtime.md").read_text()
    m = re.search(r"<!-- error-kinds:begin[^>]*-->\n(.*?)<!-- error-kinds:end -->", text, re.S)
    assert m, "docs/runtime.md lost its error-kinds markers"
    assert m.group(1) == markdown_table(), "regenerate the table with `python -m ragc.kinds`"


def test_docs_providers_md_lists_the_model_call_kinds():
    text = (ROOT / "docs" / "providers.md").read_text()
    section = text[text.index("## Resilience"):].split("| kind |", 1)[1]
    table = section[:section.index("\n\n")]  # the first table of the section: provider error kinds
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed, retried = set(), set()
    for row in rows:
        names = set(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
        listed |= names
        if row.split("|")[2].strip().startswith("yes"):
            retried |= names
    assert listed == set(MODEL_CALL_KINDS) - {ErrorKind.MODEL}
    assert retried == TRANSIENT_KINDS


def test_spec_lists_what_the_checker_accepts():
    assert f"on [{', '.join(RETRY_ON)}]" in " ".join(RUNTIME_RULES.split())


RETRY_SRC = """graph g {
  start a
  node a {
    kind model
    prompt "x"
    retry { max_attempts 2  on [NAME] }
  }
}
"""


@pytest.mark.parametrize("name", RETRY_ON)
def test_checker_accepts_every_retry_on_name(name):
    r = compile_source(RETRY_SRC.replace("NAME", name), "t.rag", None, lower=False)
    assert not [d for d in r.diagnostics if d.code == "E0206"], [str(d) for d in r.diagnostics]


@pytest.mark.parametrize("name", ["budget", "journal", "timeuot"])
def test_checker_refuses_a_kind_retry_cannot_name(name):
    r = compile_source(RETRY_SRC.replace("NAME", name), "t.rag", None, lower=False)
    e0206 = [d for d in r.diagnostics if d.code == "E0206"]
    assert e0206 and f"unknown error kind `{name}`" in e0206[0].message
