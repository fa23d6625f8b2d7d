"""Public sentinel values shared by the API, the CLI, the server and the
runtime (a leaf module: it imports nothing from ragc).

:data:`NO_ANSWER` means "resume without answering the pending interrupt".
It exists because ``None`` is a real answer: an interrupt without
``options`` accepts any JSON value, ``null`` included, so "no answer" needs
a value no caller can send by accident.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NO_ANSWER", "NoAnswer"]


class NoAnswer:
    """The type of :data:`NO_ANSWER` (one instance; falsy; prints as
    ``NO_ANSWER``; copying or pickling gives the same object)."""

    _instance: "NoAnswer | None" = None

    def __new__(cls) -> "NoAnswer":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_ANSWER"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NO_ANSWER"

    def __copy__(self) -> "NoAnswer":
        return self

    def __deepcopy__(self, memo: dict) -> "NoAnswer":
        return self


NO_ANSWER: Final = NoAnswer()
"""Resume a run without answering its pending interrupt: before the
interrupt's deadline the run stays ``interrupted``; after it, the
interrupt's ``default`` is taken. Pass ``None`` to answer ``null``."""
