"""The file tools open what they checked (issue 16 point 2): a thread swaps
`ws/race` between a file and a symlink to a file outside while an agent
reads it, through the tool call path; not one read returns the outside file.
(Before the per-component `O_NOFOLLOW` walk, about 1 read in 600 did.)"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import anyio
import pytest

from seckit import SECRET
from ragc.harness.tools.registry import ToolRegistry
from ragc.harness.tools.sandbox import SandboxError, Workspace
from ragc.registry.model import Registry

READS = 10_000


class Swapper(threading.Thread):
    """Replaces `race` atomically (rename) by a regular file, then by a
    symlink to the outside secret, until stopped; counts its swaps."""

    def __init__(self, ws: Path, outside_file: Path):
        super().__init__(daemon=True)
        self.ws, self.target, self.stop, self.swaps = ws, outside_file, threading.Event(), 0

    def run(self) -> None:
        race, tmp_file, tmp_link = self.ws / "race", self.ws / ".race-file", self.ws / ".race-link"
        while not self.stop.is_set():
            tmp_file.write_text("inside\n")
            os.replace(tmp_file, race)
            tmp_link.unlink(missing_ok=True)
            tmp_link.symlink_to(self.target)
            os.replace(tmp_link, race)
            self.swaps += 1


@pytest.mark.parametrize("tool", ["read_file", "search"])
def test_no_read_follows_a_swapped_symlink_out(ws: Path, tool: str):
    (ws / "race").write_text("inside\n")
    reg = ToolRegistry(Registry(), Workspace(ws))
    swapper = Swapper(ws, ws.parent / "outside" / "secret.txt")
    args = {"path": "race"} if tool == "read_file" else {"query": SECRET[:9], "path": "race"}
    outcomes = {"inside": 0, "refused": 0, "leaked": 0}

    async def reads() -> None:
        for _ in range(READS if tool == "read_file" else READS // 5):
            r = await reg.call(tool, args)
            if SECRET in r.content or SECRET in repr(r.value):
                outcomes["leaked"] += 1
            elif r.is_error:
                outcomes["refused"] += 1
            else:
                outcomes["inside"] += 1

    swapper.start()
    try:
        anyio.run(reads)
    finally:
        swapper.stop.set()
        swapper.join()
    assert outcomes["leaked"] == 0, outcomes
    assert swapper.swaps > 100, "the swapper did not race"
    if tool == "read_file":
        assert outcomes["inside"] > 0 and outcomes["refused"] > 0, outcomes  # both states were seen


def test_open_walk_refuses_every_way_out(ws: Path):
    w = Workspace(ws)
    (ws / "sub").mkdir()
    (ws / "sub" / "up").symlink_to("../..")
    (ws / "inner").symlink_to("sub")
    (ws / "abs_in").symlink_to(ws / "README.md")
    for bad in ("../outside/secret.txt", "secret_link", "out/secret.txt", "sub/up/outside/secret.txt",
                str(ws.parent / "outside" / "secret.txt"), "sub/../../outside/secret.txt",
                "sub/up/ws/README.md"):  # a path that passes outside on its way is refused, even back in
        with pytest.raises(SandboxError):
            fd, _ = w.open_file(bad)
            os.close(fd)
    for good, rel in (("README.md", "README.md"), ("inner/../README.md", "README.md"), ("abs_in", "README.md"),
                      ("./README.md", "README.md")):
        fd, got = w.open_file(good)
        os.close(fd)
        assert got == rel


def test_list_files_never_lists_an_outside_directory_swapped_in(ws: Path):
    """`race` swaps between an inside directory and a link to the outside one:
    the listing is of the inside directory or refused, never of `outside/`."""
    (ws / "race").mkdir()
    (ws / "race" / "inside.txt").write_text("x")
    stop = threading.Event()
    swaps = [0]

    def swap() -> None:
        while not stop.is_set():
            os.rename(ws / "race", ws / ".race-dir")
            os.symlink(ws.parent / "outside", ws / "race")
            os.unlink(ws / "race")
            os.rename(ws / ".race-dir", ws / "race")
            swaps[0] += 1

    reg = ToolRegistry(Registry(), Workspace(ws))
    leaks = [0]

    async def lists() -> None:
        for _ in range(2000):
            r = await reg.call("list_files", {"path": "race", "recursive": True})
            if "secret.txt" in r.content or "Makefile" in r.content:
                leaks[0] += 1

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    try:
        anyio.run(lists)
    finally:
        stop.set()
        t.join()
    assert leaks[0] == 0 and swaps[0] > 50
