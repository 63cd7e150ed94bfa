"""The training worker with faults and holds switched on by environment variables, for tests.

Started as `rqworker training --worker-class tests.faultworker.FaultWorker`. The patches below
are made in the worker's parent process when this module is imported, so every work horse it
forks has them. Nothing here is used outside tests.

Holds make worker tests independent of the machine's speed: instead of polling a run and
hoping to catch it between two steps (a fast machine finishes first, a loaded one is late),
a test names the moment it wants to act at, waits for the run to be held there, acts, and
lets it go.

- FAULT_HOLD: comma-separated points "<event>:<step>" (event: eval, checkpoint or step). The
  first progress report of that event at or after that step is written to the database, then
  the horse writes `held-<event>-<step>` (its pid) in FAULT_DIR and waits until the test writes
  `release-<event>-<step>` there; then it reports again, so a cancel made meanwhile is seen at
  once. A point whose release file already exists is passed without stopping (a later attempt
  of the same run does not stop where the first one did).

- FAULT_HOLD also takes "check:<attempt>": a dataset check job (on the `default` queue) stops
  once it has claimed the dataset, writes `held-check-<attempt>` and waits for
  `release-check-<attempt>` (the worker must serve `default`: see tests/training/test_dataset_worker.py).

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

from tests.holds import hold_points, marker, with_holds
from training import dataset_check, progress
from training.engine import checkpoints
from training.worker import TrainingWorker

for _name, _value in json.loads(os.environ.get("FAULT_SETTINGS") or "{}").items():
    setattr(settings, _name, _value)

_original_write_dir = checkpoints._write_dir
_written = {"count": 0}


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
        marker(f"checkpoint-{number}.started", f"{target}\n{os.getpid()}")
        if fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        elif fault == "enospc":
            weights = os.path.join(tmp, checkpoints.WEIGHTS)
            with open(weights, "r+b") as f:
                f.truncate(os.path.getsize(weights) // 2)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), weights)
        elif fault == "memory":
            raise MemoryError()
        marker(f"checkpoint-{number}.done")

    return _original_write_dir(target, disturbed)


checkpoints._write_dir = _faulty_write_dir


progress.ProgressReporter.__call__ = with_holds(progress.ProgressReporter.__call__, marker=marker)

_original_prepare_and_check = dataset_check._prepare_and_check


def _held_prepare_and_check(dataset, attempt):
    """FAULT_HOLD "check:<attempt>": a dataset check stops once it has claimed the dataset."""
    if ("check", attempt) in hold_points():
        release = os.path.join(os.environ["FAULT_DIR"], f"release-check-{attempt}")
        if not os.path.exists(release):
            marker(f"held-check-{attempt}", str(os.getpid()))
            while not os.path.exists(release):
                time.sleep(0.02)
    return _original_prepare_and_check(dataset, attempt)


dataset_check._prepare_and_check = _held_prepare_and_check


class FaultWorker(TrainingWorker):
    pass
