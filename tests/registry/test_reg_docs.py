"""``docs/registry.md`` documents every key of every registry table."""

from __future__ import annotations

from pathlib import Path

from ragc.registry import model as M

DOC = (Path(__file__).resolve().parents[2] / "docs" / "registry.md").read_text(encoding="utf-8")

ENTRIES = [M.ModelEntry, M.ToolEntry, M.AgentEntry, M.ReducerEntry, M.FunctionEntry, M.StoreEntry,
           M.GraphEntry, M.PolicyEntry, M.WorkspaceEntry, M.RunCommandPolicy, M.Price]


def test_every_key_is_documented():
    missing = [f"{cls.__name__}.{name}" for cls in ENTRIES for name in cls.model_fields if f"`{name}`" not in DOC]
    assert missing == []


def test_every_table_is_documented():
    tables = [name for name in M.Registry.model_fields if name != "source"]
    for t in tables:
        assert f"[{t}" in DOC, t


def test_every_registry_code_is_listed():
    from ragc.diagnostics.codes import catalogue

    for code in catalogue():
        if code[1:3] == "08":
            assert f"`{code}`" in DOC, code
