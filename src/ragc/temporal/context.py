"""What a worker keeps between node activities: registries, compiled
programs and one harness per run.

A worker resolves every registry name itself: with ``ragc worker
--registry FILE`` (or a :class:`~ragc.registry.model.Registry` given to
:class:`WorkerContext`) it uses that registry for every run; otherwise it
loads the registry path the run was started with (a path on the worker's
host). Programs are compiled once per IR hash (an
:class:`~ragc.runtime.engine.Engine`, so limits, policies and the harness
factory are the local engine's). One harness per run id is kept (the
scripted provider's used lines, connection pools, breakers), at most
:data:`MAX_RUNS` of them (the oldest is closed).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from ragc.runtime.errors import RunError

MAX_RUNS = 64
"""Harnesses (one per run) a worker keeps open."""


class WorkerContext:
    """The worker's registry, workspace, functions and caches.

    Args:
        registry: a ``Registry`` used for every run (``None``: load the
            run's registry path, else the default search from the cwd).
        registry_path: a registry file to load once (instead of ``registry``).
        workspace: root of file and shell tools (``None``: the run's, else
            the registry's).
        functions: Python callables for function/router nodes by name.

    Raises:
        RunError: ``E0909`` when ``registry_path`` cannot be loaded.
    """

    def __init__(self, registry: Any = None, *, registry_path: str | Path | None = None,
                 workspace: str | Path | None = None, functions: dict[str, Any] | None = None):
        if registry is None and registry_path is not None:
            registry = _load(str(registry_path))
        self.registry = registry
        self.workspace = str(workspace) if workspace is not None else None
        self.functions = dict(functions or {})
        self._registries: dict[str | None, Any] = {}
        self._engines: dict[tuple[str, str | None, str | None, bool], Any] = {}
        self._harness: OrderedDict[str, Any] = OrderedDict()
        self._ledgers: OrderedDict[str, Any] = OrderedDict()
        self.irs: dict[str, str] = {}
        self._closing: list[Any] = []

    def registry_for(self, path: str | None) -> Any:
        """The registry of a run started with registry ``path``."""
        if self.registry is not None:
            return self.registry
        if path not in self._registries:
            self._registries[path] = _load(path)
        return self._registries[path]

    def engine(self, ir_json: str, ir_hash: str, req: dict[str, Any]) -> Any:
        """The :class:`~ragc.runtime.engine.Engine` for a program (cached by
        IR hash, registry path, workspace and trust).

        Raises:
            RunError: ``E0914`` / ``E0908`` the program cannot be prepared here.
        """
        from ragc.ir.model import ProgramIR
        from ragc.runtime.engine import Engine

        ws = self.workspace or req.get("workspace")
        key = (ir_hash, req.get("registry"), ws, bool(req.get("untrusted")))
        eng = self._engines.get(key)
        if eng is None:
            eng = self._engines[key] = Engine(ProgramIR.model_validate_json(ir_json),
                                              registry=self.registry_for(req.get("registry")),
                                              functions=self.functions, workspace=ws,
                                              untrusted=bool(req.get("untrusted")))
        return eng

    def harness(self, run_id: str, engine: Any) -> Any:
        """The run's harness on this worker (created on first use)."""
        h = self._harness.get(run_id)
        if h is None:
            h = self._harness[run_id] = engine.harness_factory()()
            while len(self._harness) > MAX_RUNS:
                _, old = self._harness.popitem(last=False)
                self._closing.append(old)
        else:
            self._harness.move_to_end(run_id)
        return h

    def ledger(self, run_id: str) -> Any:
        """The run's citation ledger on this worker (files its tools returned)."""
        from ragc.harness.citations import SourceLedger

        led = self._ledgers.get(run_id)
        if led is None:
            led = self._ledgers[run_id] = SourceLedger(())
            while len(self._ledgers) > MAX_RUNS:
                self._ledgers.popitem(last=False)
        return led

    async def aclose(self) -> None:
        """Close every harness this worker opened."""
        hs = list(self._harness.values()) + self._closing
        self._harness.clear()
        self._closing = []
        for h in hs:
            close = getattr(h, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass


def _load(path: str | None) -> Any:
    """Load a registry file (``None``: the default search from the cwd).

    Raises:
        RunError: ``E0909``, it has errors or cannot be read.
    """
    from ragc.registry.loader import load_registry

    load = load_registry(Path(path) if path else None)
    if not load.ok or load.registry is None:
        detail = "; ".join(str(d.message) for d in load.diagnostics[:3]) or "not found"
        raise RunError("E0909", f"the worker cannot load the registry {path or '(default search)'}: {detail}",
                       kind="config", hint="start the worker with `--registry FILE`")
    return load.registry
