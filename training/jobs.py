"""The RQ job of a training run: claim, train, publish (or record why it failed).

`run_training(run_id, attempt)` runs in the worker's work horse. It claims the run (only a
queued run of exactly this attempt), calls the engine with plain values and a progress
callback, and publishes the result only if the attempt still owns the run. Every write is
fenced by `attempt`, so a stale replay or an orphaned horse changes nothing.

The engine is imported inside the functions: importing this module never loads torch.
The job's other concerns live beside it: run_config (what the engine is told), attempts (each
attempt's folder), progress (the progress callback and the heartbeat), failures (why a run
failed) and hooks (RQ's hooks when a job ends outside this code).
"""
import logging
import os
import shutil
import traceback
from pathlib import Path

from django.db.utils import DatabaseError
from django.utils import timezone

from training import lifecycle, storage
from training.attempts import attempt_dir_prepare
from training.failures import failure_code
from training.models import TrainingRun
from training.progress import Heartbeat, ProgressReporter, downsample
from training.run_config import engine_config, plan_description

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
        _discard_if_deleted(run)


def _train_and_publish(run: TrainingRun, attempt: int) -> str:
    from training import engine

    attempt_dir = run.attempt_dir(attempt)
    resumed_from = attempt_dir_prepare(run, attempt)
    reporter = ProgressReporter(run, attempt)
    if resumed_from:
        reporter.log("attempt_resumed", attempt=attempt, from_attempt=resumed_from, step=run.checkpoint_step)
    else:
        reporter.log("attempt_started", attempt=attempt, pid=os.getpid())
    plan_line = plan_description(run.plan or {})
    if plan_line:
        reporter.log(plan_line[0], **plan_line[1])
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
    reporter.log("finished")
    published = TrainingRun.objects.filter(pk=run.pk, attempt=attempt, status=TrainingRun.RUNNING).update(
        status=TrainingRun.SUCCEEDED, published_attempt=attempt, finished_at=timezone.now(),
        metrics=metrics, samples=data.get("samples") or [], history=downsample(history),
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
    lifecycle.run_adopt_demo(run_id=run.pk)  # only the demo account's run (training/demo.py) is adopted
    from training.calibration import calibration_from_run

    calibration_from_run(run, data)  # the next plans for this base count on the speed just measured
    return "succeeded"


def _average_speed(data: dict) -> float | None:
    seconds = float(data.get("seconds") or 0)
    return round(float(data.get("tokens_seen") or 0) / seconds, 1) if seconds > 0 else None


def _cleanup_after_publish(run: TrainingRun, attempt: int) -> None:
    """Keep the export and the archive; checkpoints, best/ (the export's weights again) and
    older attempts only cost disk (training/storage.py)."""
    storage.run_prune_by_id(run.pk)


def _discard_if_deleted(run: TrainingRun) -> None:
    """The run's row was deleted while this job ran (with its owner, say): its folder, which
    the engine kept writing to, goes too, so a deleted run leaves nothing behind."""
    try:
        gone = not TrainingRun.objects.filter(pk=run.pk).exists()
    except DatabaseError:
        return  # the sweep removes it later
    if gone:
        shutil.rmtree(run.run_dir, ignore_errors=True)
        log.warning("run %s was deleted while its job ran: its files are removed", run.pk)


def _record_failure(run_id: int, attempt: int, exc: BaseException) -> str:
    code = failure_code(exc)
    detail = "".join(traceback.format_exception(exc))
    if code == "cancelled":
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is None:
            return "deleted"
        if run.attempt == attempt and run.cancel_requested:
            lifecycle.run_mark_cancelled(run_id=run_id, attempt=attempt)
            return "cancelled"
        return "superseded"
    lifecycle.run_fail(run_id=run_id, attempt=attempt, code=code, detail=detail)
    log.error("run %s attempt %s failed (%s):\n%s", run_id, attempt, code, detail)
    if code == "internal":
        raise exc  # RQ keeps the traceback in its failed registry too; on_failure finds the run already failed
    return code


def _current_job_id() -> str:
    try:
        from rq import get_current_job

        job = get_current_job()
        return job.id if job else ""
    except Exception:
        return ""


# RQ stores a job's hooks by dotted path: jobs queued before the hooks moved name them here.
from training.hooks import on_job_failure, on_job_stopped, on_work_horse_killed  # noqa: E402,F401
