"""``.ragsh``: scripting registry capabilities in a sandboxed language
(Starlark). See ``docs/repl.md``."""

from ragc.repl.errors import CapabilityError, ReplError, ReplLimitError
from ragc.repl.policy import ReplPolicy
from ragc.repl.session import CellResult, ReplSession

__all__ = ["ReplSession", "ReplPolicy", "CellResult", "ReplError", "ReplLimitError", "CapabilityError"]
