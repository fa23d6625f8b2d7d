"""``.ragsh``: scripting registry capabilities in a sandboxed language
(Starlark). See ``docs/repl.md``.

The names below are loaded on first use (PEP 562), so that importing a
low-layer submodule (``ragc.repl.policy`` from the checker,
``ragc.repl.cells`` from the runtime) does not import the session and its
event loop machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "ReplSession": "ragc.repl.session", "CellResult": "ragc.repl.session",
    "ReplPolicy": "ragc.repl.policy",
    "ReplError": "ragc.repl.errors", "ReplLimitError": "ragc.repl.errors", "CapabilityError": "ragc.repl.errors",
}

__all__ = ["ReplSession", "ReplPolicy", "CellResult", "ReplError", "ReplLimitError", "CapabilityError"]


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'ragc.repl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
