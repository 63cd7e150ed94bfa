"""Make sure no run stays queued or running for ever.

Runs at worker start, every TRAINING_RECONCILE_INTERVAL_SECONDS inside the training worker
(training/worker.py) and on demand (`manage.py reconcile_runs`). The database says what
should happen, Redis what does happen:

- queued, but RQ has no live job for this attempt -> enqueue it (again);
- running, but the heartbeat is stale or the job is dead -> attempt+1, which resumes from the
  newest checkpoint, up to TRAINING_MAX_ATTEMPTS; then failed with "worker lost";
- running, the job failed in RQ with a timeout -> failed with "timeout";
- a cancel request the job cannot honour any more (dead or stale) -> cancelled;
- every TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS (one worker per interval, by a Redis key):
  the storage sweep removes files no run or dataset needs any more (training/storage.py).
- a dataset still "checking" whose check job is gone or dead -> enqueued again, or failed with
  "check_lost" so its page offers to check it again (training/dataset_check.py).

Every change is a fenced update (training/lifecycle.py), so running the reconciler twice, or
next to a live job, never makes two executions publish.
"""
import logging
from collections import Counter
from datetime import timedelta

from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import JobStatus

from training import conf, lifecycle, storage
from training.models import TrainingRun
from training import queueing
from training.dataset_check import reconcile_checks
from training.queueing import DEAD_STATUSES, job_fetch, job_status, run_enqueue

log = logging.getLogger(__name__)

# A run committed a moment ago is enqueued by its own on_commit hook: leave it that long.
ENQUEUE_GRACE = timedelta(seconds=5)
# Set (with the sweep interval as its expiry) by the worker that sweeps; the others skip.
SWEEP_KEY = "llmschool:storage-sweep"


def reconcile(*, now=None) -> dict:
    now = now or timezone.now()
    counts: Counter = Counter()
    try:
        connection = queueing.redis_connection()
        connection.ping()
    except (RedisError, OSError) as exc:
        log.warning("reconciler: Redis unreachable (%s); nothing done", exc)
        return {"redis_down": 1}
    for run in TrainingRun.objects.filter(status=TrainingRun.QUEUED).order_by("pk"):
        counts[_reconcile_queued(run, now, connection)] += 1
    for run in TrainingRun.objects.filter(status=TrainingRun.RUNNING).order_by("pk"):
        counts[_reconcile_running(run, now, connection)] += 1
    swept = _sweep_if_due(now, connection)
    if swept:
        counts["storage_swept"] = swept
    counts.update(reconcile_checks(connection, now=now))
    counts.pop("ok", None)
    if counts:
        log.info("reconciler: %s", dict(counts))
    return dict(counts)


def _sweep_if_due(now, connection) -> int:
    """The storage sweep, at most once per interval across all workers; paths removed."""
    interval = max(1, int(conf.storage_sweep_interval_seconds()))
    if not connection.set(SWEEP_KEY, now.isoformat(), nx=True, ex=interval):
        return 0
    try:
        return len(storage.sweep(now=now).removed)
    except OSError as exc:
        log.warning("reconciler: storage sweep failed (%s)", exc)
        return 0


def _reconcile_queued(run: TrainingRun, now, connection) -> str:
    if run.enqueued_at is None and run.created_at > now - ENQUEUE_GRACE and run.attempt == 1:
        return "ok"
    job = job_fetch(run.job_id, connection)
    status = job_status(job)
    if status is None:
        return "enqueued" if run_enqueue(run) else "enqueue_failed"
    if status == JobStatus.FAILED and not _abandoned(job):
        # Failed before it could claim the run (e.g. the worker could not import it): count an attempt.
        return "retry_" + lifecycle.run_retry_or_fail(run_id=run.pk, attempt=run.attempt, reason="internal",
                                                      detail=_exc_string(job))
    if status in DEAD_STATUSES:
        job.delete()
        return "enqueued" if run_enqueue(run) else "enqueue_failed"
    return "ok"  # queued, deferred, scheduled, or started and about to claim


def _reconcile_running(run: TrainingRun, now, connection) -> str:
    stale = run.heartbeat_at is None or run.heartbeat_at < now - timedelta(seconds=conf.heartbeat_stale_seconds())
    job = job_fetch(run.rq_job_id or run.job_id, connection)
    status = job_status(job)
    dead = status in DEAD_STATUSES
    if not (stale or dead):
        return "ok"  # alive (a job missing from a flushed Redis but still beating is left to finish)
    if run.cancel_requested:
        return "cancelled" if lifecycle.run_mark_cancelled(run_id=run.pk, attempt=run.attempt) else "ok"
    if status == JobStatus.FAILED and "JobTimeoutException" in _exc_string(job):
        done = lifecycle.run_fail(run_id=run.pk, attempt=run.attempt, code="timeout", detail=_exc_string(job))
        return "timeout" if done else "ok"
    reason = "heartbeat stale" if stale else f"job {status}"
    detail = f"Reconciler: {reason} (last heartbeat {run.heartbeat_at}). {_exc_string(job)}".strip()
    return lifecycle.run_retry_or_fail(run_id=run.pk, attempt=run.attempt, reason="worker_lost", detail=detail)


def _exc_string(job) -> str:
    if job is None:
        return ""
    try:
        result = job.latest_result()
        if result is not None and result.exc_string:
            return result.exc_string
    except Exception:
        pass
    return ""


def _abandoned(job) -> bool:
    text = _exc_string(job)
    return "AbandonedJobError" in text or "Work-horse terminated" in text
