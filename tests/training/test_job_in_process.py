"""The job, its RQ hooks and the worker class, driven in this process (the worker tests run
the same code in real worker processes, where coverage does not see it)."""
import os
import shutil
import signal
import threading
from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job

from tests.logs import codes
from training import hooks, jobs, lifecycle, progress, services, storage
from training.models import TrainingRun
from training.queueing import QUEUE_NAME

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def never_kill_the_test_process(settings):
    # The heartbeat thread kills a horse that ignores a cancel; here the "horse" is pytest.
    settings.TRAINING_CANCEL_GRACE_SECONDS = 3600


def new_run(alice, corpus, base, **extra):
    return services.training_run_create(owner=alice, dataset=corpus, base_model=base, extra={"max_steps": 12, **extra})


def test_run_training_publishes_once(alice, corpus, bases, fast_runs, redis_conn, monkeypatch):
    measured, prune = {}, storage.run_prune_by_id

    def measuring(run_id):
        folder = TrainingRun.objects.get(pk=run_id).attempt_dir(1)
        measured.update(before=storage.tree_bytes(folder), best=(folder / "best").is_dir())
        return prune(run_id)

    monkeypatch.setattr(storage, "run_prune_by_id", measuring)
    run = new_run(alice, corpus, bases["tiny"], sample_prompts=["the captain"])
    assert jobs.run_training(run.pk, 1) == "succeeded"
    run.refresh_from_db()
    # On disk only the export and the archive stay (best/ held the export's weights again).
    assert measured["best"] and sorted(p.name for p in run.attempt_dir(1).iterdir()) == ["export", run.archive_name]
    after = storage.tree_bytes(run.run_dir)
    assert after == storage.tree_bytes(run.export_dir) + run.archive_size < measured["before"]
    print(f"tiny run on disk: {measured['before']} bytes before pruning, {after} after")
    assert (run.status, run.published_attempt, run.step, run.active_slot) == ("succeeded", 1, 12, None)
    assert run.archive_path.is_file() and run.archive_size == run.archive_path.stat().st_size
    assert (run.export_dir / "config.json").is_file() and not (run.attempt_dir(1) / "checkpoints").exists()
    assert run.history and run.history[-1]["step"] == 12 and run.metrics["steps"] == 12
    assert run.tokens_per_second and {"attempt_started", "plan_max_steps", "done", "finished"} <= set(codes(run))
    # Bits per character: in the metrics and in every evaluation of the curve (live and final).
    assert 0 < run.metrics["val_bpc"] < run.metrics["base_val_bpc"]
    assert all(p["val_bpc"] > 0 for p in run.history if p.get("val_loss") is not None)
    assert run.metrics["data"]["tokenizer"]["byte_fallback"]
    # Samples: beginnings of held-out lines of the text, then the student's own prompt.
    prompts = [sample["prompt"] for sample in run.samples]
    assert len(prompts) == 4 and prompts[-1] == "the captain"
    assert all(prompt in corpus.path.read_text(encoding="utf-8") for prompt in prompts[:3])
    # A replay of the same job finds nothing to claim and changes nothing.
    before = TrainingRun.objects.filter(pk=run.pk).values().get()
    assert jobs.run_training(run.pk, 1) == "stale"
    assert TrainingRun.objects.filter(pk=run.pk).values().get() == before


def test_cancel_while_training_in_process(alice, corpus, bases, fast_runs, redis_conn, fault_worker, monkeypatch):
    from tests.holds import with_holds

    fault_worker.environment(hold=["eval:5"])
    monkeypatch.setattr(progress.ProgressReporter, "__call__", with_holds(progress.ProgressReporter.__call__))
    run = new_run(alice, corpus, bases["tiny"], max_steps=400)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=jobs.run_training(run.pk, 1)))
    thread.start()
    try:
        fault_worker.held("eval:5", timeout=60)
        assert services.training_run_cancel(run=run)
    finally:
        fault_worker.release("eval:5")
        thread.join(60)
    run.refresh_from_db()
    assert outcome["result"] == "cancelled" and run.status == "cancelled" and run.step == 5
    # It checkpointed as it stopped: a requeue resumes there, for TRAINING_RESUME_KEEP_HOURS; then nothing is kept.
    assert [p.name for p in run.run_dir.iterdir()] == ["attempt-1"] and (run.attempt_dir(1) / "checkpoints").is_dir()
    storage.run_prune(run, now=run.finished_at + timedelta(hours=25))
    assert not run.run_dir.exists()


def test_a_run_deleted_while_training_stops_and_leaves_no_files(alice, corpus, bases, fast_runs, redis_conn,
                                                               fault_worker, monkeypatch):
    """Its row went (say with its owner's account): the job stops at its next progress report and
    removes the folder it was writing to, instead of training on into a folder nobody owns."""
    from tests.holds import with_holds

    fault_worker.environment(hold=["eval:5"])
    monkeypatch.setattr(progress.ProgressReporter, "__call__", with_holds(progress.ProgressReporter.__call__))
    run = new_run(alice, corpus, bases["tiny"], max_steps=400)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=jobs.run_training(run.pk, 1)))
    thread.start()
    try:
        fault_worker.held("eval:5", timeout=60)
        assert run.run_dir.is_dir()
        TrainingRun.objects.filter(pk=run.pk).delete()
    finally:
        fault_worker.release("eval:5")
        thread.join(60)
    assert outcome["result"] == "deleted" and not run.run_dir.exists()


def test_failures_are_recorded_with_a_reason(alice, corpus, bases, local_base, tiny_base_dir, fast_runs, redis_conn,
                                             tmp_path):
    # The base model's directory vanished before the run started.
    copy = tmp_path / "gone-base"
    shutil.copytree(tiny_base_dir, copy)
    local_base.source = str(copy)
    local_base.save()
    run = new_run(alice, corpus, local_base)
    shutil.rmtree(copy)
    assert jobs.run_training(run.pk, 1) == "base_missing"
    run.refresh_from_db()
    assert (run.status, run.error_code) == ("failed", "base_missing") and "BaseModelMissing" in run.error_detail
    # The dataset file vanished.
    run = new_run(alice, corpus, bases["tiny"])
    os.unlink(corpus.path)
    assert jobs.run_training(run.pk, 1) == "dataset_missing"
    assert TrainingRun.objects.get(pk=run.pk).error_code == "dataset_missing"


def enqueued_job(run, redis_conn) -> Job:
    return Job.fetch(run.job_id, connection=redis_conn)


def test_rq_hooks(alice, corpus, bases, redis_conn):
    from rq.exceptions import AbandonedJobError
    from rq.timeouts import JobTimeoutException

    run = new_run(alice, corpus, bases["tiny"])
    job = enqueued_job(run, redis_conn)
    assert job.failure_callback is hooks.on_job_failure and job.stopped_callback is hooks.on_job_stopped
    lifecycle.run_claim(run_id=run.pk, attempt=1, pid=123)
    # An abandoned job (its worker died) is retried as attempt 2 ...
    hooks.on_job_failure(job, redis_conn, AbandonedJobError, AbandonedJobError("gone"), None)
    run.refresh_from_db()
    assert (run.status, run.attempt) == ("queued", 2)
    assert Queue(QUEUE_NAME, connection=redis_conn).job_ids[-1] == f"run-{run.pk}-2"
    # ... and the late hook of attempt 1 changes nothing any more.
    hooks.on_job_failure(job, redis_conn, JobTimeoutException, JobTimeoutException("late"), None)
    assert TrainingRun.objects.get(pk=run.pk).status == "queued"
    job2 = enqueued_job(run, redis_conn)
    lifecycle.run_claim(run_id=run.pk, attempt=2, pid=123)
    hooks.on_job_failure(job2, redis_conn, JobTimeoutException, JobTimeoutException("too long"), None)
    run.refresh_from_db()
    assert (run.status, run.error_code) == ("failed", "timeout")

    stopped = new_run(alice, corpus, bases["tiny"])
    lifecycle.run_claim(run_id=stopped.pk, attempt=1, pid=123)
    hooks.on_job_stopped(enqueued_job(stopped, redis_conn), redis_conn)
    assert TrainingRun.objects.get(pk=stopped.pk).status == "cancelled"


def test_training_worker_reconciles_and_handles_a_killed_horse(alice, corpus, bases, redis_conn, settings):
    from training.worker import TrainingWorker

    settings.TRAINING_RECONCILE_INTERVAL_SECONDS = 5
    run = new_run(alice, corpus, bases["tiny"])
    worker = TrainingWorker([Queue(QUEUE_NAME, connection=redis_conn)], connection=redis_conn)
    assert worker.dequeue_timeout <= 5 and worker.maintenance_interval == 5
    assert worker.reconcile_due and worker.should_run_maintenance_tasks
    worker.run_maintenance_tasks()
    assert not worker.reconcile_due
    # The horse of attempt 1 dies by SIGKILL (the OOM killer, say): attempt 2 is queued.
    lifecycle.run_claim(run_id=run.pk, attempt=1, pid=123)
    job = enqueued_job(run, redis_conn)
    worker.handle_work_horse_killed(job, 123, signal.SIGKILL, None)
    run.refresh_from_db()
    assert (run.status, run.attempt) == ("queued", 2) and "died by signal 9" in run.error_detail
    # A horse killed after the job's timeout is a timeout, not a lost worker.
    job = enqueued_job(run, redis_conn)
    lifecycle.run_claim(run_id=run.pk, attempt=2, pid=123)
    job.timeout = 1
    from rq.utils import now

    job.started_at = now().replace(year=2000)
    assert hooks.on_work_horse_killed(job, 123, signal.SIGKILL, None) == "failed"
    assert TrainingRun.objects.get(pk=run.pk).error_code == "timeout"


def test_reconcile_runs_command(alice, corpus, bases, redis_conn):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("reconcile_runs", stdout=out)
    assert "consistent" in out.getvalue()
    run = new_run(alice, corpus, bases["tiny"])
    Job.fetch(run.job_id, connection=redis_conn).delete()
    TrainingRun.objects.filter(pk=run.pk).update(created_at=run.created_at.replace(year=2000))
    call_command("reconcile_runs", stdout=out)
    assert "enqueued: 1" in out.getvalue()
