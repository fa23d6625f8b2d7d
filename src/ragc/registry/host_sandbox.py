"""Whether this host can enforce the OS sandbox of ``run_command``
(bubblewrap, see :mod:`ragc.harness.tools.os_sandbox` and
``docs/security.md``).

It lives with the registry because the registry's policies ask for the
sandbox (``[policies.*.run_command] sandbox``): the loader warns (``W0960``)
when a registry defines a command tool and this machine has no sandbox, so
``ragc check`` and ``ragc run`` say so before anything runs.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

PROBE_COMMAND = ("--ro-bind", "/", "/", "--dev", "/dev", "--unshare-all", "--die-with-parent", "true")


@dataclass(frozen=True)
class SandboxStatus:
    """Whether the OS sandbox can be used on this machine.

    Attributes:
        available: ``bwrap`` exists and created its namespaces in a probe.
        bwrap: the path of ``bwrap`` (``None`` when not found).
        reason: why it is not available (one line), ``""`` when it is.
    """

    available: bool
    bwrap: str | None
    reason: str


@functools.lru_cache(maxsize=1)
def status() -> SandboxStatus:
    """Probe ``bwrap`` once per process (``bwrap --ro-bind / / --unshare-all true``).

    ``RAGC_SANDBOX=off`` in the environment makes it report unavailable
    (to see ragc's behaviour on a machine without bubblewrap)."""
    if os.environ.get("RAGC_SANDBOX", "").lower() == "off":
        return SandboxStatus(False, None, "RAGC_SANDBOX=off")
    if not sys.platform.startswith("linux"):
        return SandboxStatus(False, None, f"bubblewrap needs Linux (this is {sys.platform})")
    exe = shutil.which("bwrap")
    if exe is None:
        return SandboxStatus(False, None, "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    try:
        probe = subprocess.run([exe, *PROBE_COMMAND], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxStatus(False, exe, f"`bwrap` could not be started: {exc}")
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return SandboxStatus(False, exe, "`bwrap` cannot create namespaces here"
                             + (f" ({detail[-1]})" if detail else ""))
    return SandboxStatus(True, exe, "")
