"""A cancel is saved in the database before the job is removed from Redis: when Redis cannot be
reached the student still gets an answer (no 500) and the run stays cancelled; the job left in
Redis cannot claim the run later."""
import socket

import pytest
import redis
from django.urls import reverse

from training import lifecycle, services
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_unreachable(monkeypatch):
    """The training queue's connection points at a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr("training.queueing.redis_connection",
                        lambda: redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1))
    return port


def queued_run(owner, dataset):
    return TrainingRun.objects.create(owner=owner, dataset=dataset, status=TrainingRun.QUEUED, active_slot=0,
                                      rq_job_id="run-x-1")


def test_cancel_answers_normally_when_redis_is_down(alice_client, alice, corpus, redis_unreachable):
    run = queued_run(alice, corpus)
    response = alice_client.post(reverse("training:run_cancel", args=[run.code]), follow=True,
                                 HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "The run was cancelled." in response.content.decode()
    run.refresh_from_db()
    assert run.status == TrainingRun.CANCELLED and run.active_slot is None


def test_the_service_reports_the_cancel_when_redis_is_down(alice, corpus, redis_unreachable):
    run = queued_run(alice, corpus)
    assert services.training_run_cancel(run=run) is True
    assert run.status == TrainingRun.CANCELLED
    # The job that stayed in Redis finds nothing to claim when a worker picks it up.
    assert not lifecycle.run_claim(run_id=run.pk, attempt=run.attempt, pid=1)


def test_an_instructor_cancel_in_the_admin_survives_redis_down(client, carol, alice, corpus, redis_unreachable):
    run = queued_run(alice, corpus)
    client.force_login(carol)
    response = client.post(reverse("admin:training_trainingrun_changelist"),
                           {"action": "cancel_runs", "_selected_action": [run.pk]}, follow=True)
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.status == TrainingRun.CANCELLED
