"""Pausing Python's cyclic garbage collector around the front end's own work.

Parsing, checking and lowering allocate many small objects (AST nodes, spans,
resolved models) and free almost none of them until the result is dropped, so
the collector's generation-0 passes find nothing to collect and only cost
time: on this machine a 6k-line program checks 1.6x faster with the collector
paused (measured with ``bench/frontend.py``'s generator, issue 10 item 6).

ragc is also a library inside a host process (an editor's language server, a
web service, a notebook), and the collector's on/off setting is global to that
process. :func:`paused_collector` therefore pauses it only for the duration of
the ``with`` block and puts back what the host had: a host that runs with the
collector disabled keeps it disabled, and one that runs with it enabled gets
it enabled again, also when the block raises.

Nested and concurrent uses (``compile_source`` calls the parser and the
checker, each of which pauses too; two threads may compile at once) share one
pause: the first block to enter records the host's setting, the last one to
leave restores it, so a thread that finishes early does not re-enable the
collector under another thread that is still parsing.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # blocks currently inside paused_collector(), over all threads
_host_enabled = False  # the host's setting when the outermost block entered


@contextmanager
def paused_collector() -> Iterator[None]:
    """Disable the cyclic garbage collector for the ``with`` block, then
    restore the host's setting (see the module docstring).

    Yields ``None``; raises nothing of its own. Exceptions from the block
    propagate unchanged after the setting is restored. Reference counting
    still frees acyclic garbage while paused; only cycle detection waits.
    """
    global _depth, _host_enabled
    with _lock:
        if _depth == 0:
            _host_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _host_enabled:
                gc.enable()
