"""The front end pauses the garbage collector only around its own work and
gives the host back its setting (issue 10 item 6; ``ragc.gc_pause``)."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

import pytest

from ragc.check.checker import check_module
from ragc.compiler import compile_source
from ragc.gc_pause import paused_collector
from ragc.syntax.parser import parse

HERE = Path(__file__).resolve().parent

SOURCE = (HERE / "examples" / "map_reduce.rag").read_text()


@pytest.fixture
def host_gc():
    """Set the host's collector setting for one test and put the real one back."""
    before = gc.isenabled()

    def set_(enabled: bool) -> None:
        (gc.enable if enabled else gc.disable)()

    yield set_
    (gc.enable if before else gc.disable)()


def _front_end(registry) -> None:
    parsed = parse(SOURCE, "map_reduce.rag")
    assert parsed.module is not None and not parsed.diagnostics
    checked = check_module(parsed.module, registry, source=SOURCE, file="map_reduce.rag")
    assert not [d for d in checked.diagnostics if d.severity.name == "ERROR"]
    compiled = compile_source(SOURCE, "map_reduce.rag", registry)
    assert compiled.program is not None, compiled.diagnostics


@pytest.mark.parametrize("enabled", [True, False], ids=["host-enabled", "host-disabled"])
def test_parse_check_compile_leave_the_hosts_setting(host_gc, test_registry, enabled):
    host_gc(enabled)
    _front_end(test_registry)
    assert gc.isenabled() is enabled


def test_no_collection_runs_during_the_front_ends_work(host_gc, test_registry):
    # Proves the pause does something: a compile with the collector enabled
    # runs generation-0 passes (it allocates tens of thousands of objects).
    # A pass that starts with the compiler's frames on the stack ran inside
    # the pause; the one owed right after it (the allocation count is past
    # the threshold by then) runs outside and is not counted.
    host_gc(True)
    starts: list[str] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase != "start":
            return
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name in ("_compile_source", "_parse", "_check"):
                starts.append(frame.f_code.co_name)
                return
            frame = frame.f_back

    big = "\n".join(["// padding"] * 10) + "\n" + SOURCE
    gc.callbacks.append(on_gc)
    try:
        for _ in range(20):
            compile_source(big, "map_reduce.rag", test_registry)
    finally:
        gc.callbacks.remove(on_gc)
    assert starts == []
    assert gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False], ids=["host-enabled", "host-disabled"])
def test_setting_is_restored_when_the_block_raises(host_gc, enabled):
    host_gc(enabled)
    with pytest.raises(RuntimeError, match="boom"):
        with paused_collector():
            assert not gc.isenabled()
            raise RuntimeError("boom")
    assert gc.isenabled() is enabled


def test_nested_pauses_restore_only_at_the_outermost(host_gc):
    host_gc(True)
    with paused_collector():
        with paused_collector():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block must not re-enable it
    assert gc.isenabled()


def test_a_thread_finishing_early_does_not_re_enable_under_another(host_gc):
    host_gc(True)
    inside = threading.Event()
    release = threading.Event()
    seen: list[bool] = []

    def long_job() -> None:
        with paused_collector():
            inside.set()
            release.wait(10)
            seen.append(gc.isenabled())

    t = threading.Thread(target=long_job)
    t.start()
    assert inside.wait(10)
    with paused_collector():  # a short compile in this thread, finishing first
        pass
    assert not gc.isenabled()  # the other thread is still inside its pause
    release.set()
    t.join(10)
    assert seen == [False]
    assert gc.isenabled()
