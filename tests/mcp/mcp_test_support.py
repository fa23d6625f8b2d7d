"""Helpers of the MCP tests (a module of its own: ``conftest`` names clash
between test folders)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "servers" / "notes_server.py"


def toml_list(items: list[str]) -> str:
    """``items`` as a TOML array of strings."""
    return "[" + ", ".join(json.dumps(x) for x in items) + "]"


def stdio_command() -> list[str]:
    """The command that starts the notes test server over stdio."""
    return [sys.executable, str(SERVER)]
