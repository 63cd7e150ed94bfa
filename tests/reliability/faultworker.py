"""The training worker with faults switched on by environment variables, for the fault tests.

Started as `rqworker training --worker-class tests.reliability.faultworker.FaultWorker`. The
patches below are made in the worker's parent process when this module is imported, so every
work horse it forks has them. Nothing here is used outside tests.

- FAULT_SETTINGS: JSON object of Django settings for this worker (short grace or intervals).
- FAULT_CHECKPOINT_AT: the number of the training checkpoint (1, 2, ...) of an attempt to disturb.
- FAULT_CHECKPOINT: what happens to it, once its files are written but before the rename:
  "slow:<seconds>" (a slow disk), "enospc" (disk full after half a file), "memory" (MemoryError).
- FAULT_DIR: where markers are written (`checkpoint-<n>.started` when checkpoint n is being
  written), so that a test can act at exactly that moment.
"""
import errno
import json
import os
import time

from django.conf import settings

from training.engine import checkpoints
from training.worker import TrainingWorker

for _name, _value in json.loads(os.environ.get("FAULT_SETTINGS") or "{}").items():
    setattr(settings, _name, _value)

_original_write_dir = checkpoints._write_dir
_written = {"count": 0}


def _marker(name: str, text: str = "") -> None:
    directory = os.environ.get("FAULT_DIR")
    if directory:
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)


def _seen(number: int) -> bool:
    directory = os.environ.get("FAULT_DIR")
    return bool(directory) and os.path.exists(os.path.join(directory, f"checkpoint-{number}.started"))


def _faulty_write_dir(target, write):
    if f"{os.sep}checkpoints{os.sep}step-" not in target:
        return _original_write_dir(target, write)  # best/ and the rest: untouched
    _written["count"] += 1
    number = _written["count"]
    fault = os.environ.get("FAULT_CHECKPOINT", "")
    if number != int(os.environ.get("FAULT_CHECKPOINT_AT") or 0) or not fault or _seen(number):
        return _original_write_dir(target, write)  # not this one, or this fault already happened once

    def disturbed(tmp):
        write(tmp)
        _marker(f"checkpoint-{number}.started", f"{target}\n{os.getpid()}")
        if fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        elif fault == "enospc":
            weights = os.path.join(tmp, checkpoints.WEIGHTS)
            with open(weights, "r+b") as f:
                f.truncate(os.path.getsize(weights) // 2)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), weights)
        elif fault == "memory":
            raise MemoryError()
        _marker(f"checkpoint-{number}.done")

    return _original_write_dir(target, disturbed)


checkpoints._write_dir = _faulty_write_dir


class FaultWorker(TrainingWorker):
    pass
