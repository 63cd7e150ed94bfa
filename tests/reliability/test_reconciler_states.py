"""The reconciler against every disagreement between the database and what RQ (a real Redis)
says about a run's job, one by one, without worker processes. tests/training/test_reconciler.py
covers a stale heartbeat, a cancel nobody can honour and Redis down; these are the other rows."""
from datetime import timedelta

import pytest
from django.utils import timezone
from rq.job import Job, JobStatus
from rq.results import Result

from tests.reliability.conftest import fresh, queue_run
from training.models import TrainingRun
from training.reconciler import reconcile


@pytest.fixture
def reconcile_now(django_capture_on_commit_callbacks):
    """reconcile(), with the enqueue that a retry schedules on commit run at once."""
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return reconcile()
    return run


@pytest.fixture
def queued(student, tiny, corpus, redis_conn, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = queue_run(student, tiny, corpus)
    assert queue_ids(redis_conn) == [run.job_id]
    return run


def queue_ids(connection):
    return [job_id.decode() for job_id in connection.lrange("rq:queue:training", 0, -1)]


def finish_job(connection, job_id, status, exc_string=""):
    """Put the job in `status` as a worker would have, with a failure result if any."""
    job = Job.fetch(job_id, connection=connection)
    connection.lrem("rq:queue:training", 0, job_id)
    job.set_status(status)
    if exc_string:
        Result.create_failure(job, ttl=600, exc_string=exc_string)
    return job


def as_running(run, *, heartbeat_age=0):
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.RUNNING, rq_job_id=run.job_id, heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age))
    return fresh(run)


def test_a_fresh_run_is_left_to_its_own_enqueue(student, tiny, corpus, redis_conn, reconcile_now):
    """Between the commit and its on_commit enqueue a run has no job yet: no double enqueue."""
    run = queue_run(student, tiny, corpus)  # (on_commit never fires inside this test's transaction)
    assert queue_ids(redis_conn) == []
    assert reconcile_now() == {}
    assert queue_ids(redis_conn) == []
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert reconcile_now() == {"enqueued": 1}
    assert reconcile_now() == {}
    assert queue_ids(redis_conn) == [run.job_id]


def test_a_job_that_failed_before_claiming_costs_an_attempt_then_fails_the_run(queued, redis_conn, reconcile_now,
                                                                               settings):
    settings.TRAINING_MAX_ATTEMPTS = 2
    finish_job(redis_conn, queued.job_id, JobStatus.FAILED, "ModuleNotFoundError: No module named 'training.jobs'")
    assert reconcile_now() == {"retry_retried": 1}
    run = fresh(queued)
    assert (run.status, run.attempt) == ("queued", 2)
    assert queue_ids(redis_conn) == [run.job_id]
    finish_job(redis_conn, run.job_id, JobStatus.FAILED, "ModuleNotFoundError again")
    assert reconcile_now() == {"retry_failed": 1}
    run = fresh(run)
    assert (run.status, run.error_code, run.active_slot) == ("failed", "internal", None)
    assert "ModuleNotFoundError again" in run.error_detail


@pytest.mark.parametrize("status, exc", [
    (JobStatus.FAILED, "rq.exceptions.AbandonedJobError"),  # its worker died before the claim
    (JobStatus.STOPPED, ""), (JobStatus.CANCELED, ""), (JobStatus.FINISHED, ""),
])
def test_a_dead_job_of_a_queued_run_is_replaced_by_a_fresh_one(queued, redis_conn, reconcile_now, status, exc):
    finish_job(redis_conn, queued.job_id, status, exc)
    assert reconcile_now() == {"enqueued": 1}
    run = fresh(queued)
    assert (run.status, run.attempt) == ("queued", 1)
    assert queue_ids(redis_conn) == [run.job_id]
    assert Job.fetch(run.job_id, connection=redis_conn).get_status() == JobStatus.QUEUED


def test_a_running_run_whose_job_timed_out_fails_as_timeout(queued, redis_conn, reconcile_now):
    run = as_running(queued)
    finish_job(redis_conn, run.job_id, JobStatus.FAILED, "rq.timeouts.JobTimeoutException: Task exceeded maximum "
                                                          "timeout value (600 seconds)")
    assert reconcile_now() == {"timeout": 1}
    run = fresh(run)
    assert (run.status, run.error_code, run.attempt) == ("failed", "timeout", 1)


def test_a_running_run_whose_job_died_resumes_even_with_a_fresh_heartbeat(queued, redis_conn, reconcile_now):
    run = as_running(queued)
    finish_job(redis_conn, run.job_id, JobStatus.FAILED, "Work-horse terminated unexpectedly; waitpid returned 9")
    assert reconcile_now() == {"retried": 1}
    run = fresh(run)
    assert (run.status, run.attempt) == ("queued", 2)
    assert "FAILED" in run.error_detail and "waitpid returned 9" in run.error_detail
    assert queue_ids(redis_conn) == [run.job_id]


def test_a_running_run_missing_from_redis_is_left_alone_while_it_beats(queued, redis_conn, reconcile_now, settings):
    run = as_running(queued)
    redis_conn.flushall()
    assert reconcile_now() == {}
    assert fresh(run).status == "running" and run.attempt == 1
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS + 1))
    assert reconcile_now() == {"retried": 1}
    assert (fresh(run).status, run.attempt) == ("queued", 2)


def test_reconciling_twice_changes_nothing_more(queued, redis_conn, reconcile_now):
    run = as_running(queued, heartbeat_age=3600)
    assert reconcile_now() == {"retried": 1}
    snapshot = TrainingRun.objects.filter(pk=run.pk).values().get()
    jobs = queue_ids(redis_conn)
    assert reconcile_now() == {}
    assert TrainingRun.objects.filter(pk=run.pk).values().get() == snapshot
    assert queue_ids(redis_conn) == jobs
