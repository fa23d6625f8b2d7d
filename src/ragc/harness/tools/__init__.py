"""Tools: built-ins confined to a workspace (builtins.py, sandbox.py), Python
functions with a pydantic-derived schema (python_tools.py), and the registry
that builds and calls them with validation, timeouts and breakers
(registry.py).

The names below are imported lazily (PEP 562): importing one submodule, as
``ragc.harness.tools.sandbox`` for the workspace, does not build the rest
(a run that calls no tool never loads the registry or the built-ins)."""

from __future__ import annotations

import importlib

_LAZY = {
    "Tool": "ragc.harness.tools.base",
    "BUILTIN_NAMES": "ragc.harness.tools.builtins",
    "make_builtin": "ragc.harness.tools.builtins",
    "python_tool": "ragc.harness.tools.python_tools",
    "MAX_RESULT_BYTES": "ragc.harness.tools.registry",
    "ToolRegistry": "ragc.harness.tools.registry",
    "SandboxError": "ragc.harness.tools.sandbox",
    "Workspace": "ragc.harness.tools.sandbox",
}

__all__ = ["BUILTIN_NAMES", "MAX_RESULT_BYTES", "SandboxError", "Tool", "ToolRegistry", "Workspace", "make_builtin",
           "python_tool"]


def __getattr__(name: str):
    """The lazily imported names of :data:`__all__`; ``AttributeError`` for
    others (so ``from ragc.harness.tools import builtins`` imports the submodule)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragc.harness.tools' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
