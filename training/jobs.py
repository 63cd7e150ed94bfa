"""The RQ job of a training run, and the RQ hooks for its failures.

`run_training(run_id, attempt)` runs in the worker's work horse. It claims the run (only a
queued run of exactly this attempt), calls the engine with plain values and a progress
callback, and publishes the result only if the attempt still owns the run. Every write is
fenced by `attempt`, so a stale replay or an orphaned horse changes nothing.

The engine is imported inside the functions: importing this module never loads torch.
"""
import errno
import logging
import os
import shutil
import signal
import threading
import time
import traceback
import types
from collections import deque
from pathlib import Path

from django.db import connections
from django.db.utils import DatabaseError
from django.utils import timezone

from training import conf, lifecycle
from training.models import BaseModel, TrainingRun

log = logging.getLogger(__name__)

HISTORY_POINTS_MAX = 1000


# The job -----------------------------------------------------------------------------------

def run_training(run_id: int, attempt: int) -> str:
    job_id = _current_job_id()
    if not lifecycle.run_claim(run_id=run_id, attempt=attempt, pid=os.getpid(), job_id=job_id):
        log.info("run %s attempt %s: not claimable (stale or replayed job), nothing to do", run_id, attempt)
        return "stale"
    run = TrainingRun.objects.select_related("dataset", "base_model", "base_run").get(pk=run_id)
    heartbeat = Heartbeat(run_id, attempt)
    heartbeat.start()
    try:
        return _train_and_publish(run, attempt)
    except BaseException as exc:  # noqa: B036 - JobTimeoutException and friends must be recorded too
        return _record_failure(run_id, attempt, exc)
    finally:
        heartbeat.stop()


def _train_and_publish(run: TrainingRun, attempt: int) -> str:
    from training import engine

    attempt_dir = run.attempt_dir(attempt)
    resumed_from = attempt_dir_prepare(run, attempt)
    reporter = ProgressReporter(run, attempt)
    if resumed_from:
        reporter.log(f"Attempt {attempt}: resuming from the checkpoint of attempt {resumed_from} "
                     f"(step {run.checkpoint_step}).")
    else:
        reporter.log(f"Attempt {attempt} started on worker process {os.getpid()}.")
    plan_line = plan_description(run.plan or {})
    if plan_line:
        reporter.log(plan_line)
    reporter.flush()
    config = engine_config(run, attempt_dir)
    result = engine.train(config, reporter)
    zip_path = attempt_dir / run.archive_name
    export_dir = attempt_dir / "export"
    if Path(result.model_dir).resolve() != export_dir.resolve():
        # The engine's layout puts the export in output_dir/export; keep that contract on disk.
        shutil.rmtree(export_dir, ignore_errors=True)
        shutil.copytree(result.model_dir, export_dir)
    engine.export_zip(str(export_dir), str(zip_path))
    return _publish(run, attempt, result, reporter, zip_path)


def _publish(run, attempt, result, reporter, zip_path: Path) -> str:
    data = result.to_dict()
    history = data.get("history") or reporter.history
    metrics = {key: value for key, value in data.items() if key not in ("history", "samples", "model_dir")}
    reporter.log("Training finished; the model archive is ready.")
    published = TrainingRun.objects.filter(pk=run.pk, attempt=attempt, status=TrainingRun.RUNNING).update(
        status=TrainingRun.SUCCEEDED, published_attempt=attempt, finished_at=timezone.now(),
        metrics=metrics, samples=data.get("samples") or [], history=_downsample(history),
        step=int(data.get("steps") or reporter.last_step), total_steps=int(data.get("steps") or reporter.total_steps),
        val_loss=data.get("final_val_loss"), overfitting=bool(data.get("overfitting")), eta_seconds=None,
        tokens_per_second=_average_speed(data),
        archive_size=zip_path.stat().st_size, log_lines=list(reporter.lines), active_slot=None, worker_pid=None,
        error_code="")
    if not published:
        # Another attempt owns the run now (or it was cancelled): leave no second archive behind.
        zip_path.unlink(missing_ok=True)
        log.warning("run %s attempt %s finished but no longer owns the run: not published", run.pk, attempt)
        return "superseded"
    _cleanup_after_publish(run, attempt)
    from training.calibration import calibration_from_run

    calibration_from_run(run, data)  # the next plans for this base count on the speed just measured
    return "succeeded"


def _average_speed(data: dict) -> float | None:
    seconds = float(data.get("seconds") or 0)
    return round(float(data.get("tokens_seen") or 0) / seconds, 1) if seconds > 0 else None


def _cleanup_after_publish(run: TrainingRun, attempt: int) -> None:
    """Keep the export and the archive; checkpoints and older attempts only cost disk."""
    shutil.rmtree(run.attempt_dir(attempt) / "checkpoints", ignore_errors=True)
    for other in run.run_dir.glob("attempt-*"):
        if other.name != f"attempt-{attempt}":
            shutil.rmtree(other, ignore_errors=True)


def _record_failure(run_id: int, attempt: int, exc: BaseException) -> str:
    code = failure_code(exc)
    detail = "".join(traceback.format_exception(exc))
    if code == "cancelled":
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is not None and run.attempt == attempt and run.cancel_requested:
            lifecycle.run_mark_cancelled(run_id=run_id, attempt=attempt)
            return "cancelled"
        return "superseded"
    lifecycle.run_fail(run_id=run_id, attempt=attempt, code=code, detail=detail)
    log.error("run %s attempt %s failed (%s):\n%s", run_id, attempt, code, detail)
    if code == "internal":
        raise exc  # RQ keeps the traceback in its failed registry too; on_failure finds the run already failed
    return code


def failure_code(exc: BaseException) -> str:
    """Map an exception to a student-facing reason (training.reasons.RUN_FAILURES)."""
    from rq.timeouts import JobTimeoutException

    from training import engine

    if isinstance(exc, engine.TrainingCancelled):
        return "cancelled"
    if isinstance(exc, engine.DatasetError):
        return "not_enough_data" if getattr(exc, "code", "") in ("too_small", "empty") else "dataset_invalid"
    if isinstance(exc, engine.BaseModelMissing):
        return "base_missing"
    if isinstance(exc, (engine.OutOfMemory, MemoryError)) or type(exc).__name__ == "OutOfMemoryError":
        return "out_of_memory"
    if isinstance(exc, JobTimeoutException):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    if isinstance(exc, FileNotFoundError) and "dataset" in str(exc).lower():
        return "dataset_missing"
    if isinstance(exc, engine.EngineError) and getattr(exc, "code", "") in ("diverged", "invalid_config"):
        return exc.code
    return "internal"


def plan_description(plan: dict) -> str:
    """A log line saying where the run's number of steps comes from."""
    if not plan.get("steps"):
        return ""
    speed = (f"{plan.get('tokens_per_second', 0):,.0f} tokens/s "
             f"{'measured on the workers' if plan.get('calibrated') else 'guessed from the model size'}")
    limited_by = plan.get("limited_by")
    if limited_by == "budget":
        why = f"the {plan.get('preset')} preset's budget of {plan.get('budget_seconds')} s at {speed}"
    elif limited_by == "epoch_cap":
        why = (f"at most {plan.get('max_epochs')} passes over the text (the {plan.get('preset')} preset's "
               f"budget of {plan.get('budget_seconds')} s at {speed} would allow {plan.get('budget_steps')} steps)")
    elif limited_by == "epochs":
        why = "the epochs you set"
    else:
        why = "the maximum steps you set"
    return (f"Plan: {plan['steps']} steps of {plan.get('tokens_per_step')} tokens (about {plan.get('epochs')} "
            f"passes over the text), from {why}.")


# Engine configuration ----------------------------------------------------------------------

MANAGED_CONFIG_KEYS = {"data_path", "output_dir", "base_kind", "base_source", "cache_dir", "offline", "max_bytes"}


def engine_config(run: TrainingRun, output_dir: Path):
    """Plain values for the engine: paths, the base, and the run's stored hyperparameters."""
    from training.engine import TrainConfig

    if run.dataset is None or not run.dataset.path.exists():
        raise FileNotFoundError("the dataset file of this run is gone")
    if run.base_run_id:
        base_kind, base_source = "run", str(run.base_run.export_dir)
    elif run.base_model.kind == BaseModel.SCRATCH:
        base_kind, base_source = "scratch", run.base_model.source
    else:
        base_kind, base_source = "pretrained", run.base_model.source
    options = {key: value for key, value in run.hyperparameters.items() if key not in MANAGED_CONFIG_KEYS}
    return TrainConfig(data_path=str(run.dataset.path), output_dir=str(output_dir), base_kind=base_kind,
                       base_source=base_source, cache_dir=str(conf.models_dir()), offline=True,
                       max_bytes=conf.dataset_stored_max_bytes(), **options)


def attempt_dir_prepare(run: TrainingRun, attempt: int) -> int | None:
    """Give this attempt its own directory, seeded from the newest earlier attempt that has
    checkpoints (the engine resumes from output_dir). Returns that attempt's number."""
    target = run.attempt_dir(attempt)
    if target.exists():
        return None
    earlier = sorted((int(p.name.split("-")[1]), p) for p in run.run_dir.glob("attempt-*")
                     if p.name.split("-")[1].isdigit() and int(p.name.split("-")[1]) < attempt)
    for number, source in reversed(earlier):
        if (source / "checkpoints").is_dir() and any((source / "checkpoints").iterdir()):
            staging = target.with_name(target.name + ".staging")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns("export", "*.zip", "*.tmp-*", "*.old"))
            os.replace(staging, target)
            return number
    target.mkdir(parents=True, exist_ok=True)
    return None


def _link_or_copy(source, destination):
    """Checkpoint files are written once and replaced atomically, so hard links are safe
    (and cheap for big models); small files such as logs are copied."""
    if os.path.getsize(source) > 1_000_000:
        try:
            os.link(source, destination)
            return destination
        except OSError:
            pass
    return shutil.copy2(source, destination)


# Progress ----------------------------------------------------------------------------------

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

    def log(self, message: str) -> None:
        self.lines.append(lifecycle.timestamped(message))

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
            self.log(progress.message)
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
            ).update(heartbeat_at=timezone.now(), log_lines=list(self.lines), history=_downsample(self.history),
                     **_finite(self.fields))
        except DatabaseError as exc:  # a busy database must not kill the training
            log.warning("run %s: progress not saved (%s)", self.run_id, exc)
            return
        self.last_write = time.monotonic()
        if not written:
            self.stop = True


def _finite(fields: dict) -> dict:
    import math

    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in fields.items()}


def _downsample(points: list, limit: int = HISTORY_POINTS_MAX) -> list:
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


def _current_job_id() -> str:
    try:
        from rq import get_current_job

        job = get_current_job()
        return job.id if job else ""
    except Exception:
        return ""


# RQ hooks ----------------------------------------------------------------------------------

def _job_run(job) -> tuple[int, int] | None:
    try:
        run_id, attempt = job.args[:2]
        return int(run_id), int(attempt)
    except (TypeError, ValueError, IndexError):
        return None


def on_job_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's on_failure: exceptions that escaped the job, timeouts, abandoned jobs (worker died)."""
    from rq.exceptions import AbandonedJobError
    from rq.timeouts import JobTimeoutException

    ids = _job_run(job)
    if ids is None:
        return
    run_id, attempt = ids
    if tb is not None and not isinstance(tb, types.TracebackType):
        tb = None  # RQ's abandoned-job cleanup passes a StackSummary, which format_exception cannot take
    detail = "".join(traceback.format_exception(exc_type, exc_value, tb)) if exc_type else ""
    if exc_type is not None and issubclass(exc_type, AbandonedJobError):
        lifecycle.run_retry_or_fail(run_id=run_id, attempt=attempt, reason="worker_lost", detail=detail)
    elif exc_type is not None and issubclass(exc_type, JobTimeoutException):
        lifecycle.run_fail(run_id=run_id, attempt=attempt, code="timeout", detail=detail)
    else:
        lifecycle.run_fail(run_id=run_id, attempt=attempt, code="internal", detail=detail)


def on_job_stopped(job, connection) -> None:
    """RQ's on_stopped (send_stop_job_command): the horse was killed on purpose."""
    ids = _job_run(job)
    if ids is not None:
        lifecycle.run_mark_cancelled(run_id=ids[0], attempt=ids[1])


def on_work_horse_killed(job, retpid, ret_val, rusage) -> str:
    """The horse died without a word (SIGKILL, the OOM killer): resume or fail with a reason."""
    ids = _job_run(job)
    if ids is None:
        return "noop"
    run_id, attempt = ids
    signal_note = f" by signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else ""
    max_rss = getattr(rusage, "ru_maxrss", "?")
    detail = f"Work horse {retpid} died{signal_note} (waitpid status {ret_val}); max RSS {max_rss} KiB."
    started = getattr(job, "started_at", None)
    if job.timeout and job.timeout > 0 and started is not None:
        from rq.utils import now as rq_now

        if (rq_now() - started).total_seconds() > job.timeout:
            lifecycle.run_fail(run_id=run_id, attempt=attempt, code="timeout", detail=detail)
            return "failed"
    return lifecycle.run_retry_or_fail(run_id=run_id, attempt=attempt, reason="worker_lost", detail=detail)
