"""Runs that lost their way: Redis down at submit, a stale heartbeat, a cancel the job cannot
honour (the reconciler), and a replayed job of an old attempt (fenced). tests/reliability/
test_reconciler_states.py has the other disagreements between the database and RQ."""
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import run_form
from tests.logs import logged
from tests.training.conftest import training_queue_ids
from training import lifecycle, services
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_redis_down_at_submit_keeps_the_run_and_the_reconciler_enqueues_it(transactional_db, alice, corpus,
                                                                          redis_conn, monkeypatch):
    import redis

    from training import queueing, reconciler

    dead = redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=0.2)
    monkeypatch.setattr(queueing, "redis_connection", lambda: dead)
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("training:run_new"), run_form(corpus), follow=True, HTTP_ACCEPT_LANGUAGE="en")
    run = TrainingRun.objects.get()
    assert run.status == "queued" and run.rq_job_id == ""
    assert "start automatically as soon as the queue is back" in response.content.decode()
    assert reconciler.reconcile() == {"redis_down": 1}
    monkeypatch.undo()
    TrainingRun.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert reconciler.reconcile() == {"enqueued": 1}
    assert training_queue_ids(redis_conn) == [f"run-{run.pk}-1"]
    assert reconciler.reconcile() == {}  # idempotent: the job exists now


def test_stale_attempt_replay_changes_nothing(alice, corpus, bases):
    from training.jobs import run_training

    run = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    TrainingRun.objects.filter(pk=run.pk).update(attempt=2)
    before = TrainingRun.objects.filter(pk=run.pk).values().get()
    assert run_training(run.pk, 1) == "stale"
    assert TrainingRun.objects.filter(pk=run.pk).values().get() == before
    assert not run.run_dir.exists()
    # A fenced write for the old attempt is a no-op too.
    assert not lifecycle.run_fail(run_id=run.pk, attempt=1, code="internal")
    assert lifecycle.run_retry_or_fail(run_id=run.pk, attempt=1) == "noop"


def test_reconciler_resumes_a_run_with_a_stale_heartbeat_then_fails_it(alice, corpus, bases, redis_conn, settings):
    from training.reconciler import reconcile

    settings.TRAINING_MAX_ATTEMPTS = 2
    run = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    long_ago = timezone.now() - timedelta(minutes=10)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=long_ago, checkpoint_step=7)
    with pytest.MonkeyPatch.context() as patch:
        # Outside a test transaction on_commit would enqueue; here run it at once.
        patch.setattr("django.db.transaction.on_commit", lambda func, *a, **k: func())
        assert reconcile()["retried"] == 1
    run.refresh_from_db()
    assert (run.status, run.attempt) == ("queued", 2) and logged(run, "retry", reason="worker_lost", step=7, attempt=2)
    assert f"run-{run.pk}-2" in training_queue_ids(redis_conn)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=long_ago)
    assert reconcile()["failed"] == 1
    run.refresh_from_db()
    assert (run.status, run.error_code, run.active_slot) == ("failed", "worker_lost", None)
    assert "heartbeat stale" in run.error_detail


def test_reconciler_finishes_a_cancel_the_job_cannot_honour(alice, corpus, bases, redis_conn):
    from training.reconciler import reconcile

    run = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    old = timezone.now() - timedelta(minutes=10)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=old, cancel_requested_at=old)
    assert reconcile() == {"cancelled": 1}
    run.refresh_from_db()
    assert run.status == "cancelled"
