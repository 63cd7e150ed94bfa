"""Workers yield the CPU to the web processes (WORKER_NICENESS): on a machine that hosts both,
the kernel runs a page's request first and a model with what is left.

Linux with autogroups (the default on desktop and most server kernels) shares the CPU fairly
between sessions first and applies nice values only within a session; so a worker that leads its
own session (`make run` starts each worker in one; so do systemd units) also sets its session's
autogroup nice. A worker that shares a session with other processes leaves the autogroup alone:
raising it would slow the web server with it.
"""
import os
from pathlib import Path

from training import conf

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(niceness: int | None = None) -> int:
    """Raise this process's nice value to WORKER_NICENESS (never lower it: an operator's `nice`
    stands) and return it. Called before any thread starts: on Linux the value is per thread,
    and threads created afterwards (torch's) inherit it. A work horse inherits its worker's."""
    target = conf.worker_niceness() if niceness is None else niceness
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if target > current:
            os.setpriority(os.PRIO_PROCESS, 0, target)
    except (AttributeError, OSError):  # not on this platform, or not allowed
        return 0
    if target > 0 and os.getsid(0) == os.getpid():
        lower_autogroup(target)
    return max(target, current)


def autogroup_nice() -> int | None:
    """This session's autogroup nice value ("/autogroup-85 nice 0"), or None without autogroups."""
    try:
        return int(AUTOGROUP.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def lower_autogroup(target: int) -> None:
    current = autogroup_nice()
    if current is None or current >= target:
        return
    try:
        AUTOGROUP.write_text(str(target))
    except OSError:  # kernel without autogroups, or not allowed: the per-process value stands
        pass
