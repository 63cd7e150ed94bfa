"""RQ's hooks for a training job that ended badly outside the job's own code: an exception that
escaped it, a timeout, an abandoned job (its worker died), a stop command, a killed horse."""
import os
import traceback
import types

from training import lifecycle
from training.queueing import JOB_FUNCTION


def _job_run(job) -> tuple[int, int] | None:
    """(run id, attempt) of a training job; None for any other job (a dataset check, a
    calibration) that a worker serving several queues ran."""
    if getattr(job, "func_name", JOB_FUNCTION) != JOB_FUNCTION:
        return None
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
