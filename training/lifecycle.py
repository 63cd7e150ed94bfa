"""Fenced state transitions of a training run.

Every transition is one conditional UPDATE on (id, attempt, status): an execution that no
longer owns the run (a stale replay, an orphaned work horse, a job the reconciler already
replaced) changes 0 rows and so changes nothing. The job, the RQ hooks, the worker and the
reconciler all go through these functions.
"""
import logging

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from training import conf, logtext, storage
from training.models import TrainingRun

log = logging.getLogger(__name__)

FINISHED_FIELDS = {"active_slot": None, "eta_seconds": None, "worker_pid": None}


def _owned(run_id: int, attempt: int, statuses=TrainingRun.ACTIVE):
    return TrainingRun.objects.filter(pk=run_id, attempt=attempt, status__in=statuses)


def run_claim(*, run_id: int, attempt: int, pid: int, job_id: str = "") -> bool:
    """The job's first write: only a queued run of exactly this attempt can be claimed."""
    now = timezone.now()
    claimed = _owned(run_id, attempt, [TrainingRun.QUEUED]).filter(cancel_requested_at__isnull=True).update(
        status=TrainingRun.RUNNING, claimed_at=now, heartbeat_at=now, worker_pid=pid,
        rq_job_id=job_id or f"run-{run_id}-{attempt}")
    if claimed:
        TrainingRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    return bool(claimed)


def run_heartbeat(*, run_id: int, attempt: int) -> bool:
    return bool(_owned(run_id, attempt, [TrainingRun.RUNNING]).update(heartbeat_at=timezone.now()))


def run_fail(*, run_id: int, attempt: int, code: str, detail: str = "", statuses=TrainingRun.ACTIVE) -> bool:
    """Failed with `code` (training.reasons), its log line in the same write."""
    run = TrainingRun.objects.filter(pk=run_id, attempt=attempt).only("log_lines").first()
    if run is None:
        return False
    done = _owned(run_id, attempt, statuses).update(
        status=TrainingRun.FAILED, error_code=code, error_detail=detail[-20000:], finished_at=timezone.now(),
        log_lines=_appended(run.log_lines, logtext.entry("failed", {"reason": code})), **FINISHED_FIELDS)
    if done:
        log.info("run %s attempt %s failed: %s", run_id, attempt, code)
        _prune_after_commit(run_id)
    return bool(done)


def run_adopt_demo(*, run_id: int) -> bool:
    """A succeeded run of the demo account (training/demo.py) becomes the site's demo model,
    unless there is one already (an instructor's choice is never replaced)."""
    from django.db import IntegrityError

    if TrainingRun.objects.filter(is_demo=True).exists():
        return False
    try:
        with transaction.atomic():
            # The system account has no usable password: a student who signed up under that name does not count.
            done = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.SUCCEEDED, owner__username=conf.DEMO_USERNAME,
                                              owner__password__startswith=UNUSABLE_PASSWORD_PREFIX).update(is_demo=True)
    except IntegrityError:  # another run became the demo at the same moment
        return False
    if done:
        log.info("run %s is the site's demo model now", run_id)
    return bool(done)


def run_mark_cancelled(*, run_id: int, attempt: int) -> bool:
    """Cancelled, with its log line in the same write: whoever sees the status sees the line."""
    now = timezone.now()
    run = TrainingRun.objects.filter(pk=run_id, attempt=attempt).only("log_lines").first()
    if run is None:
        return False
    done = _owned(run_id, attempt).update(status=TrainingRun.CANCELLED, finished_at=now,
                                          log_lines=_appended(run.log_lines, logtext.entry("cancelled")),
                                          **FINISHED_FIELDS)
    if done:
        TrainingRun.objects.filter(pk=run_id, cancel_requested_at__isnull=True).update(cancel_requested_at=now)
        _prune_after_commit(run_id)
    return bool(done)


def run_cancel(*, run_id: int) -> str:
    """A student's or an instructor's cancel: a queued run is cancelled at once, its log line in
    the same write ("cancelled"); a running one is asked to stop ("requested"): its job sees
    the flag at its next progress report and ends through run_mark_cancelled. "" when neither."""
    now = timezone.now()
    run = TrainingRun.objects.filter(pk=run_id).only("log_lines", "attempt").first()
    if run is None:
        return ""
    if _owned(run_id, run.attempt, [TrainingRun.QUEUED]).update(
            status=TrainingRun.CANCELLED, cancel_requested_at=now, finished_at=now,
            log_lines=_appended(run.log_lines, logtext.entry("cancelled")), **FINISHED_FIELDS):
        _prune_after_commit(run_id)  # files of an earlier attempt, when it was queued again
        return "cancelled"
    if _owned(run_id, run.attempt, [TrainingRun.RUNNING]).filter(cancel_requested_at__isnull=True).update(
            cancel_requested_at=now):
        return "requested"
    return ""


def _prune_after_commit(run_id: int) -> None:
    """A final run keeps only what it still needs on disk (training/storage.py)."""
    transaction.on_commit(lambda: storage.run_prune_by_id(run_id))


def run_requeue(*, run_id: int, attempt: int, status: str, slot: int) -> bool:
    """A failed or cancelled run queued again as attempt+1 in quota slot `slot` (it resumes from
    its newest checkpoint), with its log line."""
    run = TrainingRun.objects.filter(pk=run_id, attempt=attempt).only("log_lines").first()
    if run is None:
        return False
    return bool(TrainingRun.objects.filter(pk=run_id, status=status, attempt=attempt).update(
        status=TrainingRun.QUEUED, attempt=F("attempt") + 1, active_slot=slot, error_code="",
        cancel_requested_at=None, finished_at=None, rq_job_id="", enqueued_at=None, claimed_at=None,
        heartbeat_at=None, worker_pid=None,
        log_lines=_appended(run.log_lines, logtext.entry("requeued", {"attempt": attempt + 1}))))


def run_log(*, run_id: int, attempt: int, line: dict) -> None:
    """Append a line (training.logtext.entry) to the run's log (read-modify-write, fenced by attempt)."""
    run = TrainingRun.objects.filter(pk=run_id, attempt=attempt).only("log_lines").first()
    if run is None:
        return
    TrainingRun.objects.filter(pk=run_id, attempt=attempt).update(log_lines=_appended(run.log_lines, line))


def _appended(lines: list, line: dict) -> list:
    return (list(lines or []) + [line])[-conf.log_lines_kept():]


def run_retry_or_fail(*, run_id: int, attempt: int, reason: str = "worker_lost", detail: str = "") -> str:
    """The execution of `attempt` is gone: queue attempt+1 (it resumes from the newest
    checkpoint) while attempts remain, else fail with `reason`. Returns what happened:
    "retried", "failed", "cancelled" or "noop" (someone else already moved the run on)."""
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None or run.attempt != attempt or run.status not in TrainingRun.ACTIVE:
        return "noop"
    if run.cancel_requested:
        return "cancelled" if run_mark_cancelled(run_id=run_id, attempt=attempt) else "noop"
    if attempt >= conf.max_attempts():
        return "failed" if run_fail(run_id=run_id, attempt=attempt, code=reason, detail=detail) else "noop"
    with transaction.atomic():
        moved = _owned(run_id, attempt).filter(cancel_requested_at__isnull=True).update(
            attempt=F("attempt") + 1, status=TrainingRun.QUEUED, rq_job_id="", enqueued_at=None, claimed_at=None,
            heartbeat_at=None, worker_pid=None, eta_seconds=None, tokens_per_second=None,
            error_detail=detail[-20000:])
        if not moved:
            return "noop"
        run.refresh_from_db()
        run_log(run_id=run_id, attempt=run.attempt, line=logtext.entry("retry", {
            "reason": reason, "step": run.checkpoint_step, "attempt": run.attempt,
            "max_attempts": conf.max_attempts()}))
        transaction.on_commit(lambda: _enqueue(run))
    log.warning("run %s: attempt %s lost (%s), queued attempt %s", run_id, attempt, reason, run.attempt)
    return "retried"


def _enqueue(run) -> None:
    from training.queueing import run_enqueue

    run_enqueue(run)
