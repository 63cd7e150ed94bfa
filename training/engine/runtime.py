"""Hardware choices: device, bf16 autocast, and how many torch threads to use."""
import math
import os
import time


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def free_cores() -> int:
    """Cores not busy with other work (web server, another worker).

    Oversubscribing a 2-core machine collapses throughput (10-50x slower steps were
    measured), so when in doubt use fewer threads. The 1-minute load average also counts
    this process's own recent work (tokenizing, evaluating), so it is capped by a short
    sample of what the rest of the machine is doing right now.
    """
    cores = usable_cores()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    sampled = _busy_cores_now()
    if sampled is not None:
        busy = min(busy, sampled)
    return max(1, min(cores, math.floor(cores - busy + 0.5)))


def _busy_cores_now(seconds: float = 0.2) -> float | None:
    """Cores kept busy by other processes during a short sleep of ours (from /proc/stat)."""
    def read():
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total_before, idle_before = read()
        time.sleep(seconds)
        total_after, idle_after = read()
    except (OSError, ValueError, IndexError):
        return None
    total = total_after - total_before
    if total <= 0:
        return None
    return (1 - (idle_after - idle_before) / total) * (os.cpu_count() or 1)


def choose_num_threads(requested: int | None) -> int:
    if requested:
        return max(1, min(int(requested), usable_cores()))
    return free_cores()


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(setting, device: str) -> bool:
    """bf16 autocast when asked, or ("auto") when the hardware computes bf16 natively."""
    import torch

    if setting in (True, "on", "true", "1"):
        return True
    if setting in (False, "off", "false", "0", None):
        return False
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


class reuse_freed_memory:
    """Keep freed memory in the heap while training (glibc only).

    Tensors over 32 MB (GPT-2's logits and embedding gradients) are otherwise given back to
    the OS when freed and page-faulted in again at every step, which costs a sizeable share
    of a CPU step. Undone on exit, and the heap is trimmed.
    """

    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4

    def __enter__(self):
        self.libc = None
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            if libc.mallopt(self.M_MMAP_MAX, 0) == 1:
                libc.mallopt(self.M_TRIM_THRESHOLD, 2**31 - 1)
                libc.mallopt(self.M_TOP_PAD, 64 << 20)
                self.libc = libc
        except (OSError, AttributeError):
            pass
        return self

    def __exit__(self, *exc):
        if self.libc is not None:
            self.libc.mallopt(self.M_MMAP_MAX, 65536)  # glibc's defaults
            self.libc.mallopt(self.M_TRIM_THRESHOLD, 128 * 1024)
            self.libc.mallopt(self.M_TOP_PAD, 128 * 1024)
            self.libc.malloc_trim(0)
        return False
