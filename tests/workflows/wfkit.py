"""Helpers of the workflow tests (fixtures are in ``conftest.py``): the
repository registry with its local models swapped for scripted ones, a tiny
code base, a runner that collects a run's events, the requests the scripted
models answered, and the ``ragc`` CLI in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ragc
from ragc.events import Event, event_type
from ragc.harness.types import Message, ModelRequest
from ragc.registry.loader import load_registry
from ragc.registry.model import ModelEntry, Registry

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
REGISTRY_TOML = REPO / "registry.toml"
RAGC = Path(sys.executable).with_name("ragc")

LOCAL_MODELS = ("default", "fast", "react")
"""The registry's models served by the embedded local model; every scripted
registry replaces all of them, so no test loads the real model by mistake."""

Line = dict[str, Any]


# ----------------------------------------------------------------------------- registry


@lru_cache(maxsize=1)
def repo_registry() -> Registry:
    """The repository's ``registry.toml`` (with its ``.agents/`` folders), loaded once."""
    load = load_registry(REGISTRY_TOML, cwd=REPO)
    assert load.ok and load.registry is not None, [str(d) for d in load.diagnostics]
    return load.registry


def write_script(path: Path, lines: list[Line]) -> Path:
    """Write scripted-provider lines as JSONL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def scripted_entry(name: str, script: Path) -> ModelEntry:
    """A scripted stand-in for the repository model ``name`` that keeps its
    ``tool_protocol`` (``react`` stays the ReAct text protocol)."""
    real = repo_registry().models[name]
    return ModelEntry(provider="scripted", script=script.name, tool_protocol=real.tool_protocol, max_retries=0)


def scripted_registry(base: Path, **scripts: list[Line]) -> Registry:
    """The repository registry (its agents, tools, functions and policies)
    whose local models answer from scripts written to ``base`` (a model
    given no lines has an empty script: any call to it fails).

    ``scripted_registry(tmp_path / "scripts", default=[...], fast=[...])``
    """
    unknown = set(scripts) - set(LOCAL_MODELS)
    assert not unknown, f"not a local model of the registry: {unknown}"
    models = dict(repo_registry().models)
    for name in LOCAL_MODELS:
        path = write_script(base / f"{name}.jsonl", scripts.get(name, []))
        models[name] = scripted_entry(name, path)
    reg = repo_registry().model_copy(update={"models": models})
    reg.source = base / "registry.toml"  # relative script paths resolve in `base`
    return reg


def write_scripted_registry_toml(directory: Path, **scripts: list[Line]) -> Path:
    """A copy of the repository's ``registry.toml`` in ``directory`` whose
    local model tables are scripted (scripts next to it), for the CLI.
    ``.agents/`` folders are not copied."""
    text = REGISTRY_TOML.read_text(encoding="utf-8")
    parsed = tomllib.loads(text)
    for name in LOCAL_MODELS:
        assert name in parsed["models"], name
        write_script(directory / f"{name}.jsonl", scripts.get(name, []))
        protocol = parsed["models"][name].get("tool_protocol", "native")
        table = (f'[models.{name}]\nprovider = "scripted"\nscript = "{name}.jsonl"\n'
                 f'tool_protocol = "{protocol}"\nmax_retries = 0\n\n')
        # a table runs from its header to the next header or comment block
        pattern = re.compile(rf"^\[models\.{name}\]\n(?:(?!\[|# ).*\n)*", re.MULTILINE)
        text, n = pattern.subn(table, text)
        assert n == 1, f"[models.{name}] not found once in registry.toml"
    out = directory / "registry.toml"
    out.write_text(text, encoding="utf-8")
    rewritten = tomllib.loads(text)
    assert {k: v for k, v in rewritten.items() if k != "models"} == {k: v for k, v in parsed.items() if k != "models"}
    for name, table in parsed["models"].items():
        if name in LOCAL_MODELS:
            assert rewritten["models"][name]["provider"] == "scripted"
        else:
            assert rewritten["models"][name] == table
    return out


# ----------------------------------------------------------------------------- workspaces


CODE_BASE = {
    "README.md": "# shop\n\nA tiny shop: carts and prices.\n",
    "shop/__init__.py": '"""The shop package."""\n',
    "shop/cart.py": (
        '"""Shopping carts."""\n\n'
        "from shop.pricing import apply_discount\n\n\n"
        "class Cart:\n"
        "    def __init__(self):\n"
        "        self.items = []\n\n"
        "    def add(self, name, price):\n"
        "        self.items.append((name, price))\n\n"
        "    def total(self, code=None):\n"
        "        subtotal = sum(price for _, price in self.items)\n"
        "        return apply_discount(subtotal, code)\n"),
    "shop/pricing.py": (
        '"""Prices and discount codes."""\n\n'
        'DISCOUNTS = {"SPRING10": 0.10, "VIP25": 0.25}\n\n\n'
        "def apply_discount(amount, code):\n"
        "    rate = DISCOUNTS.get(code, 0.0)\n"
        "    return round(amount * (1 - rate), 2)\n"),
    "tests/test_cart.py": (
        "from shop.cart import Cart\n\n\n"
        "def test_total_with_code():\n"
        "    cart = Cart()\n"
        '    cart.add("pen", 10.0)\n'
        '    assert cart.total("SPRING10") == 9.0\n'),
}


def make_code_base(ws: Path) -> Path:
    """The tiny Python code base :data:`CODE_BASE` written into ``ws``."""
    for rel, text in CODE_BASE.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text, encoding="utf-8")
    return ws


# ----------------------------------------------------------------------------- runs


@dataclass
class Events:
    """The events of one run, in order."""

    items: list[Event] = field(default_factory=list)

    def __call__(self, ev: Event) -> None:
        self.items.append(ev)

    def of(self, type_: str, **match: Any) -> list[Event]:
        """Events of one type (``"tool_call_completed"``) whose fields equal ``match``."""
        return [e for e in self.items if event_type(e) == type_
                and all(getattr(e, k) == v for k, v in match.items())]

    def types(self) -> list[str]:
        return [event_type(e) for e in self.items]


@dataclass
class Run:
    """A finished (or interrupted) run: its result, events and workflow."""

    result: ragc.RunResult
    events: Events
    workflow: ragc.Workflow


def load_workflow(name: str, registry: Registry, workspace: Path, *, journal: Any = "memory") -> ragc.Workflow:
    """``workflows/NAME.rag`` compiled against ``registry``, tools confined to ``workspace``."""
    return ragc.load(WORKFLOWS / f"{name}.rag", registry=registry, journal=journal, workspace=workspace)


async def run_workflow(name: str, registry: Registry, workspace: Path, inputs: dict[str, Any], *,
                       journal: Any = "memory") -> Run:
    """Load and run ``workflows/NAME.rag``; the caller closes nothing (memory journal)."""
    wf = load_workflow(name, registry, workspace, journal=journal)
    events = Events()
    result = await wf.run(inputs, on_event=events)
    return Run(result, events, wf)


@dataclass
class Request:
    """One request a scripted model answered (after any ReAct rewriting)."""

    model: str
    request: ModelRequest

    @property
    def messages(self) -> list[Message]:
        return self.request.messages

    def text(self) -> str:
        """Every message's content, one per line."""
        return "\n".join(m.content for m in self.messages)

    def last_user(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


# ----------------------------------------------------------------------------- CLI


def ragc_cli(*argv: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``.venv/bin/ragc ARGV`` in ``cwd`` (no terminal, so nothing asks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGC_")}
    env["NO_COLOR"] = "1"
    return subprocess.run([str(RAGC), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def last_json(stdout: str) -> dict[str, Any]:
    """The summary line of ``--json`` output."""
    return json.loads(stdout.strip().splitlines()[-1])
