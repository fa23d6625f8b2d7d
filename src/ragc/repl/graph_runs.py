"""``graph_run`` of a ``.ragsh`` session: a compiled graph run to its end on
an in-memory journal (a graph run from a script is not listed by ``ragc
runs``). Kept apart from :mod:`ragc.repl.capabilities` because it drives the
runtime's engine, a layer above the capabilities (``docs/architecture.md``,
"Module order")."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ragc.registry.model import Registry
from ragc.repl.errors import CapabilityError


def graph_runner(registry: Registry, workspace: str | None) -> Callable[..., Awaitable[dict]]:
    """The ``graph_runner`` of :class:`ragc.repl.capabilities.Capabilities`.

    Args:
        registry: the session's registry.
        workspace: root of the run's file tools (``None``: the registry's).

    Returns:
        ``async (program, untrusted, source, input) -> dict`` giving
        ``{"status", "run_id", "output", "usage", "error", "interrupt"}``;
        it raises :class:`CapabilityError` when the run cannot start.
    """

    async def run_graph(program: Any, untrusted: bool, source: str, inputs: dict) -> dict:
        from ragc.runtime.engine import Engine
        from ragc.runtime.errors import RunError
        from ragc.runtime.journal import open_store

        try:
            engine = Engine(program, registry=registry, store=open_store("memory"), workspace=workspace,
                            source=source, untrusted=untrusted)
            result = await engine.start(inputs)
        except RunError as e:
            raise CapabilityError(f"graph_run: {e.message}", hint=getattr(e, "hint", None)) from None
        error = None
        if result.error is not None:
            error = {"code": getattr(result.error, "code", None),
                     "message": getattr(result.error, "message", str(result.error))}
        return {"status": result.status, "run_id": result.run_id, "output": result.output,
                "usage": result.usage, "error": error, "interrupt": result.interrupt}

    return run_graph
