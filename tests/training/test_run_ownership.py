"""A run is its owner's: other students get 404 on every owner-scoped URL and see only their
own runs (and the demo); the owner (and instructors) download the archive; the owner cancels,
deletes and follows the progress of their runs."""
import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_finished_run, run_form
from tests.training.conftest import training_queue_ids
from training import services
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_other_users_get_404_on_every_owner_scoped_url(alice, bob, corpus, client):
    run = make_finished_run(alice, corpus)
    active = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running")
    client.force_login(bob)
    gets = [reverse("training:dataset_detail", args=[corpus.code]),
            reverse("training:run_detail", args=[run.code]),
            reverse("training:run_progress", args=[active.code]),
            reverse("training:run_progress", args=[active.code]) + "?format=json",
            reverse("training:run_download", args=[run.code]),
            reverse("training:compare") + f"?a={run.code}&b={run.code}"]
    posts = [reverse("training:dataset_delete", args=[corpus.code]),
             reverse("training:run_cancel", args=[active.code]),
             reverse("training:run_playground", args=[run.code]),
             reverse("training:run_delete", args=[run.code])]
    for url in gets:
        response = client.get(url)
        assert response.status_code == 404, url
        assert not getattr(response, "streaming", False)
    for url in posts:
        assert client.post(url, {"prompt": "hi", "temperature": 1, "top_k": 5, "top_p": 0.9,
                                 "max_new_tokens": 5}).status_code == 404, url
    active.refresh_from_db()
    assert active.status == "running" and active.cancel_requested_at is None
    assert TrainingRun.objects.filter(pk=run.pk).exists() and corpus.path.exists()


def test_selectors_for_the_lab_and_dashboard(alice, bob, corpus):
    from django.http import Http404

    from training import selectors

    mine = make_finished_run(alice, corpus, archive=False)
    theirs = make_finished_run(bob, corpus, archive=False)
    assert selectors.latest_runs_for_user(alice) == [mine]
    assert selectors.lab_models_for_user(alice) == [mine]
    assert selectors.run_for_lab(alice, mine.code) == mine
    with pytest.raises(Http404):
        selectors.run_for_lab(alice, theirs.code)
    services.training_run_set_demo(run=theirs)
    assert selectors.lab_models_for_user(alice) == [theirs, mine]
    assert selectors.run_for_lab(alice, theirs.code) == theirs
    assert selectors.latest_succeeded_run(alice) == mine


def test_owner_and_instructors_download_the_archive(alice, carol, corpus, client):
    run = make_finished_run(alice, corpus)
    for user in (alice, carol):
        client.force_login(user)
        response = client.get(reverse("training:run_download", args=[run.code]))
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="llmschool-{run.code}.zip"'
        assert b"".join(response.streaming_content).startswith(b"PK")


def test_cancel_a_queued_run_removes_its_job(transactional_db, alice, corpus, redis_conn):
    client = Client()
    client.force_login(alice)
    client.post(reverse("training:run_new"), run_form(corpus))
    run = TrainingRun.objects.get()
    assert training_queue_ids(redis_conn) == [run.job_id]
    client.post(reverse("training:run_cancel", args=[run.code]))
    run.refresh_from_db()
    assert run.status == "cancelled" and run.active_slot is None
    assert training_queue_ids(redis_conn) == []
    # The transition went through lifecycle: its log line is written with the status.
    assert run.log_lines[-1]["code"] == "cancelled"
    # The progress fragment of a finished run stops polling.
    fragment = client.get(reverse("training:run_progress", args=[run.code])).content.decode()
    assert "hx-trigger" not in fragment


def test_delete_run_removes_its_files(alice_client, alice, corpus):
    run = make_finished_run(alice, corpus)
    run_dir = run.run_dir
    assert run_dir.exists()
    response = alice_client.post(reverse("training:run_delete", args=[run.code]))
    assert response.status_code == 302 and not run_dir.exists() and not TrainingRun.objects.exists()


def test_active_runs_cannot_be_deleted(alice_client, alice, corpus):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running")
    alice_client.post(reverse("training:run_delete", args=[run.code]))
    assert TrainingRun.objects.filter(pk=run.pk).exists()


def test_progress_json(alice_client, alice, corpus):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running", step=12, total_steps=40,
                                     train_loss=3.5, eta_seconds=20)
    data = alice_client.get(reverse("training:run_progress", args=[run.code]), HTTP_ACCEPT="application/json").json()
    assert (data["status"], data["step"], data["total_steps"], data["percent"]) == ("running", 12, 40, 30)
