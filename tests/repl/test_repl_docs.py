"""docs/repl.md stays true: its `.ragsh` examples are valid Starlark for the
session's dialect, its builtin table lists exactly the session's builtins,
and its limit table lists every ReplPolicy field with its default."""

from __future__ import annotations

import re
from pathlib import Path

import starlark as sl

from ragc.registry.model import Registry
from ragc.repl import ReplPolicy, ReplSession
from ragc.repl.interpreter import _dialect
from ragc.repl.policy import LIMIT_NAMES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "repl.md").read_text(encoding="utf-8")


def test_examples_parse() -> None:
    blocks = re.findall(r"```ragsh\n(.*?)```", DOC, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        sl.parse("doc.ragsh", block, _dialect())


def test_builtin_table_matches_the_session(tmp_path: Path) -> None:
    section = DOC.split("## Builtins", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)\(", section, flags=re.M))
    with ReplSession(Registry(), root=tmp_path) as s:
        offered = set(s.interpreter.builtins)
    assert documented == offered


def test_limit_table_matches_the_policy() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ([0-9]+) \|", DOC, flags=re.M))
    defaults = ReplPolicy()
    assert set(rows) == set(LIMIT_NAMES)
    for name, value in rows.items():
        assert float(value) == float(getattr(defaults, name)), name
