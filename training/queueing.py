"""The RQ side of training runs: which queue, how a run's job is enqueued, what RQ knows of it.

Job ids are deterministic (`run-<pk>-<attempt>`), so the service, the reconciler and the
worker hooks can all name the same job without storing anything in Redis.
"""
import logging

import django_rq
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Callback, Job, JobStatus

log = logging.getLogger(__name__)

QUEUE_NAME = "training"
JOB_FUNCTION = "training.jobs.run_training"
FAILURE_TTL = 7 * 24 * 3600
RESULT_TTL = 24 * 3600
DEAD_STATUSES = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED}


def redis_connection():
    return django_rq.get_connection(QUEUE_NAME)


def training_queue():
    # commit_mode="auto": callers already run after the commit (transaction.on_commit).
    return django_rq.get_queue(QUEUE_NAME, commit_mode="auto", connection=redis_connection())


def run_enqueue(run) -> bool:
    """Put the run's current attempt on the queue; False when Redis is unreachable.

    A run left queued without a job is picked up by the reconciler later, so a Redis outage
    at submit time loses nothing.
    """
    from training.models import TrainingRun

    try:
        training_queue().enqueue_call(
            func=JOB_FUNCTION,
            args=(run.pk, run.attempt),
            job_id=run.job_id,
            timeout=run.job_timeout or None,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=f"training run {run.code} attempt {run.attempt}",
            on_failure=Callback("training.hooks.on_job_failure"),
            on_stopped=Callback("training.hooks.on_job_stopped"),
            unique=True,
        )
    except DuplicateJobError:
        log.info("job %s is already queued", run.job_id)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue %s: %s (the reconciler will retry)", run.job_id, exc)
        return False
    TrainingRun.objects.filter(pk=run.pk, attempt=run.attempt).update(rq_job_id=run.job_id,
                                                                      enqueued_at=timezone.now())
    run.rq_job_id = run.job_id
    return True


def job_fetch(job_id: str, connection=None) -> Job | None:
    """The RQ job, or None when Redis no longer has it (flushed, expired, never enqueued)."""
    if not job_id:
        return None
    try:
        return Job.fetch(job_id, connection=connection or redis_connection())
    except NoSuchJobError:
        return None


def job_status(job: Job | None):
    if job is None:
        return None
    try:
        return job.get_status(refresh=True)
    except Exception:  # a half-deleted job hash
        return None


def job_delete(job_id: str, connection=None) -> bool:
    """Remove the job from Redis; False when Redis cannot be reached. A job left behind is
    harmless: it cannot claim a run that is no longer queued (lifecycle.run_claim)."""
    try:
        job = job_fetch(job_id, connection)
        if job is not None:
            job.delete()
    except (RedisError, OSError) as exc:
        log.warning("could not delete job %s: %s", job_id, exc)
        return False
    return True
