"""A ``.ragsh`` session with an event loop of its own: :class:`ReplSession`
(``ragc repl``, the Python API). The cells, builtins and limits are
:class:`ragc.repl.cells.CellSession`'s; this adds the loop thread the calls
run on and ``graph_run``.

::

    with ReplSession(registry) as s:
        r = s.run_cell('x = model_query("fast", "Say hi")\\nprint(x)')
        r = s.run_cell('answer(x)')
        assert r.answered and s.answer == ...

``ragc repl FILE.ragsh`` runs a file as one cell; ``ragc repl`` reads cells
from the terminal; the namespace persists between cells either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from anyio.from_thread import start_blocking_portal

from ragc.repl.cells import CellResult, CellSession
from ragc.repl.graph_runs import graph_runner

__all__ = ["ReplSession", "CellResult"]


@dataclass
class ReplSession(CellSession):
    """One session. Use it as a context manager (it owns an event loop thread).

    Args: as :class:`ragc.repl.cells.CellSession` (``registry``, ``policy``,
    ``root``, ``workspace``, ``write``).
    """

    def __enter__(self) -> "ReplSession":
        from ragc.harness.facade import Harness

        self._portal_cm = start_blocking_portal()
        portal = self._portal_cm.__enter__()
        harness = Harness(self.registry, workspace=self.workspace)
        self._portal = portal
        self._harness = harness
        self.attach(portal, harness, graph_runner(self.registry, self.workspace))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._portal.call(self._harness.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)
