"""While a job trains: the engine's progress callback that keeps the run row up to date (fenced
by attempt), and the heartbeat thread that proves the horse alive and enforces cancellation."""
import logging
import math
import os
import signal
import threading
import time
from collections import deque

from django.db import connections
from django.db.utils import DatabaseError
from django.utils import timezone

from training import conf, lifecycle, logtext
from training.models import TrainingRun

log = logging.getLogger(__name__)

HISTORY_POINTS_MAX = 1000


class ProgressReporter:
    """The engine's on_progress callback: keeps the run row up to date, fenced by attempt.

    Returns True (stop) when the run was cancelled or another attempt took it over.
    """

    def __init__(self, run: TrainingRun, attempt: int):
        self.run_id, self.attempt = run.pk, attempt
        self.lines = deque(run.log_lines or [], maxlen=conf.log_lines_kept())
        # A resumed attempt redoes the steps after its checkpoint: drop their points.
        self.history = [p for p in (run.history or []) if p.get("step", 0) <= run.checkpoint_step]
        self.last_step = run.checkpoint_step
        self.total_steps = run.total_steps
        self.fields = {}
        self.last_write = 0.0
        self.stop = False

    def log(self, code: str, message: str = "", **params) -> None:
        """A log line by code (training.logtext says it in the reader's language)."""
        self.lines.append(logtext.entry(code, params, message))

    def __call__(self, progress) -> bool:
        event = getattr(progress, "event", "step")
        step = int(progress.step or 0)
        self.last_step, self.total_steps = step, int(progress.total_steps or self.total_steps or 0)
        if progress.train_loss is not None and event in ("step", "log", "eval", "checkpoint", "done"):
            self._add_point(step, train_loss=float(progress.train_loss), lr=progress.learning_rate)
        if progress.val_loss is not None and event == "eval":
            bpc = getattr(progress, "val_bpc", None)
            self._add_point(step, val_loss=float(progress.val_loss), val_bpc=None if bpc is None else float(bpc))
        if progress.message:
            self.log(progress.code, progress.message, **progress.params)
        self.fields.update(step=step, total_steps=self.total_steps)
        if event in ("step", "eval", "checkpoint"):
            self.fields.update(epoch=progress.epoch, learning_rate=progress.learning_rate,
                               tokens_per_second=progress.tokens_per_second, eta_seconds=progress.eta_seconds,
                               overfitting=bool(progress.overfitting))
        if progress.train_loss is not None:
            self.fields["train_loss"] = progress.train_loss
        if progress.val_loss is not None:
            self.fields["val_loss"] = progress.val_loss
        if event == "checkpoint":
            self.fields["checkpoint_step"] = step
        if event in ("finishing", "done"):
            self.fields["eta_seconds"] = 0.0
        due = time.monotonic() - self.last_write >= conf.progress_write_seconds()
        if due or event in ("start", "eval", "checkpoint", "finishing", "done"):
            self.flush()
        return self.stop

    def _add_point(self, step: int, **values) -> None:
        values = {k: (float(v) if v is not None else None) for k, v in values.items()}
        if self.history and self.history[-1].get("step") == step:
            self.history[-1].update({k: v for k, v in values.items() if v is not None})
        else:
            self.history.append({"step": step, **values})

    def flush(self) -> None:
        """One fenced UPDATE; 0 rows means cancelled or superseded: ask the engine to stop."""
        try:
            written = TrainingRun.objects.filter(
                pk=self.run_id, attempt=self.attempt, status=TrainingRun.RUNNING, cancel_requested_at__isnull=True,
            ).update(heartbeat_at=timezone.now(), log_lines=list(self.lines), history=downsample(self.history),
                     **_finite(self.fields))
        except DatabaseError as exc:  # a busy database must not kill the training
            log.warning("run %s: progress not saved (%s)", self.run_id, exc)
            return
        self.last_write = time.monotonic()
        if not written:
            self.stop = True


def _finite(fields: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in fields.items()}


def downsample(points: list, limit: int = HISTORY_POINTS_MAX) -> list:
    """Keep charts light: every n-th point, always the last one."""
    if len(points) <= limit:
        return list(points)
    stride = -(-len(points) // limit)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


class Heartbeat:
    """A thread that marks the run alive while the engine is busy between progress reports
    (loading, tokenising, evaluating, exporting). It also enforces cancellation: a run that
    does not stop within TRAINING_CANCEL_GRACE_SECONDS of the request is killed; the worker's
    horse-killed handler then records it as cancelled."""

    def __init__(self, run_id: int, attempt: int):
        self.run_id, self.attempt = run_id, attempt
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"heartbeat-run-{run_id}", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)

    def _loop(self):
        grace = conf.cancel_grace_seconds()
        try:
            while not self.stopped.wait(conf.heartbeat_interval_seconds()):
                try:
                    lifecycle.run_heartbeat(run_id=self.run_id, attempt=self.attempt)
                    requested = TrainingRun.objects.filter(pk=self.run_id).values_list(
                        "cancel_requested_at", flat=True).first()
                except DatabaseError as exc:
                    log.warning("run %s: heartbeat not saved (%s)", self.run_id, exc)
                    continue
                if requested and (timezone.now() - requested).total_seconds() > grace:
                    log.warning("run %s: did not stop %.0f s after cancel; killing the work horse", self.run_id, grace)
                    os.kill(os.getpid(), signal.SIGKILL)
        finally:
            connections.close_all()
