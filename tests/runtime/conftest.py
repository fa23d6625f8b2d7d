"""Fixtures of the runtime tests: the asyncio backend for anyio, a
workflow runner over IR programs, and scripted-model registries."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ragc.registry.model import AgentEntry, ModelEntry, Price, Registry, ToolEntry  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write_script(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def scripted(tmp_path: Path):
    """``scripted({"m": [lines...]}, agents={...}, tools={...})`` -> Registry
    whose models are scripted (registry file in ``tmp_path``)."""

    def make(models: dict[str, list[dict[str, Any]]], *, agents: dict[str, dict] | None = None,
             tools: dict[str, dict] | None = None, price: dict | None = None, **extra: Any) -> Registry:
        entries = {}
        for name, lines in models.items():
            write_script(tmp_path / f"{name}.jsonl", lines)
            entries[name] = ModelEntry(provider="scripted", script=f"{name}.jsonl", max_retries=0,
                                       price=Price(**price) if price else None)
        reg = Registry(models=entries,
                       agents={k: AgentEntry(**v) for k, v in (agents or {}).items()},
                       tools={k: ToolEntry(**v) for k, v in (tools or {}).items()}, **extra)
        reg.source = tmp_path / "registry.toml"
        return reg

    return make
