"""Workers yield the CPU to the web processes (WORKER_NICENESS): on a machine that hosts both,
the kernel runs a page's request first and a model with what is left."""
import os

from training import conf


def lower_priority(niceness: int | None = None) -> int:
    """Raise this process's nice value to WORKER_NICENESS (never lower it: an operator's `nice`
    stands) and return it. Called before any thread starts: on Linux the value is per thread,
    and threads created afterwards (torch's) inherit it. A work horse inherits its worker's."""
    target = conf.worker_niceness() if niceness is None else niceness
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if target > current:
            os.setpriority(os.PRIO_PROCESS, 0, target)
        return max(target, current)
    except (AttributeError, OSError):  # not on this platform, or not allowed
        return 0
