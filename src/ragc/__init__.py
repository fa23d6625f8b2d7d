"""ragc: compiler and runtime for ``.rag`` declarative LLM-agent workflows.

Python API (see ``docs/runtime.md``)::

    import ragc
    wf = ragc.load("workflows/research_review.rag", registry="registry.toml")
    result = wf.run_sync({"question": "How are joins scheduled?"})
    print(result.status, result.output)

    # or load and run in one call (``ragc.arun`` from async code)
    result = ragc.run("workflows/research_review.rag", {"question": "..."}, registry="registry.toml")

``load`` and the other API names are imported lazily, so ``import ragc`` and
the ``ragc`` command start fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: `import ragc` starts fast
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load": "ragc.api",
    "run": "ragc.api",
    "arun": "ragc.api",
    "Workflow": "ragc.api",
    "RunResult": "ragc.api",
    "RagcError": "ragc.api",
    "NodeResult": "ragc.api",
    "load_run": "ragc.api",
    "NO_ANSWER": "ragc.sentinels",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragc' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
