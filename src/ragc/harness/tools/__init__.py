"""Tools: built-ins confined to a workspace (builtins.py, sandbox.py), Python
functions with a pydantic-derived schema (python_tools.py), and the registry
that builds and calls them with validation, timeouts and breakers
(registry.py)."""

from __future__ import annotations

from ragc.harness.tools.base import Tool
from ragc.harness.tools.builtins import BUILTIN_NAMES, make_builtin
from ragc.harness.tools.python_tools import python_tool
from ragc.harness.tools.registry import MAX_RESULT_BYTES, ToolRegistry
from ragc.harness.tools.sandbox import SandboxError, Workspace

__all__ = ["BUILTIN_NAMES", "MAX_RESULT_BYTES", "SandboxError", "Tool", "ToolRegistry", "Workspace", "make_builtin",
           "python_tool"]
