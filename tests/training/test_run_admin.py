"""Instructors' tools for runs and bases: the admin's lists, filters and actions (demo,
requeue, cancel), and the messages of download_base_model."""
import pytest
from django.urls import reverse

from tests.factories import make_finished_run
from tests.training.conftest import training_queue_ids
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_admin_lists_filters_and_acts(client, carol, alice, corpus, redis_conn, bases):
    a = make_finished_run(alice, corpus, archive=False)
    b = make_finished_run(alice, corpus, archive=False)
    failed = TrainingRun.objects.create(owner=alice, dataset=corpus, base_model=bases["tiny"], status="failed",
                                        error_code="worker_lost", error_detail="Traceback: boom")
    client.force_login(carol)
    changelist = reverse("admin:training_trainingrun_changelist")
    assert client.get(changelist + "?status__exact=failed&q=alice").status_code == 200
    detail = client.get(reverse("admin:training_trainingrun_change", args=[failed.pk])).content.decode()
    assert "Traceback: boom" in detail
    assert "コード（ランの URL に入る ID）" in detail and str(failed.code) in detail
    for run in (a, b):
        client.post(changelist, {"action": "use_as_demo", "_selected_action": [run.pk]})
    assert list(TrainingRun.objects.filter(is_demo=True)) == [b]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda func, *x, **k: func())
        client.post(changelist, {"action": "requeue_runs", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.attempt, failed.error_code) == ("queued", 2, "")
    assert f"run-{failed.pk}-2" in training_queue_ids(redis_conn)
    client.post(changelist, {"action": "cancel_runs", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == "cancelled"
    assert client.get(reverse("admin:training_basemodel_changelist")).status_code == 200
    assert client.get(reverse("admin:training_dataset_changelist")).status_code == 200


def test_download_base_model_explains_failures(db, settings):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="internet"):
        call_command("download_base_model", "not a valid/../repo id")
