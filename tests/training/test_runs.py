"""Queuing runs: bounds, quotas (also under concurrency), enqueue on commit, Redis outages,
fenced jobs, the reconciler, and the owner-only pages."""
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rq.job import Job

from tests.logs import logged
from training import lifecycle, services
from training.models import TrainingRun
from training.queueing import QUEUE_NAME

pytestmark = pytest.mark.django_db


def run_form(dataset, base="base:tiny", **values):
    return {"dataset": str(dataset.code), "base": base, "preset": "quick", **values}


def training_queue_ids(redis_conn):
    from rq import Queue

    return Queue(QUEUE_NAME, connection=redis_conn).job_ids


def test_new_run_page_shows_estimate_and_missing_bases(alice_client, corpus):
    page = alice_client.get(reverse("training:run_new") + "?preset=quick", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "estimated training time" in page
    assert "python manage.py download_base_model gpt2" in page
    assert 'value="base:gpt2" disabled' in page or ('value="base:gpt2"' in page and "disabled" in page)
    fragment = alice_client.get(reverse("training:run_estimate"), run_form(corpus, epochs="2"),
                                HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "estimated training time" in fragment and "the epochs you set" in fragment


def test_submit_creates_a_queued_run_and_enqueues_it_on_commit(transactional_db, alice, corpus, redis_conn):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("training:run_new"), run_form(corpus, max_steps="20"))
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("training:run_detail", args=[run.code])
    assert (run.status, run.attempt, run.hyperparameters["max_steps"]) == ("queued", 1, 20)
    assert training_queue_ids(redis_conn) == [f"run-{run.pk}-1"]
    job = Job.fetch(f"run-{run.pk}-1", connection=redis_conn)
    assert job.args == (run.pk, 1) and job.func_name == "training.jobs.run_training"
    assert job.timeout == run.job_timeout and 600 <= run.job_timeout <= 6 * 3600
    page = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Waiting in the queue: position 1" in page and 'hx-trigger="every 2s"' in page


@pytest.mark.parametrize("values, field", [
    ({"epochs": "1000"}, "epochs"),
    ({"epochs": "nan"}, "epochs"),
    ({"learning_rate": "inf"}, "learning_rate"),
    ({"learning_rate": "-0.1"}, "learning_rate"),
    ({"batch_size": "0"}, "batch_size"),
    ({"batch_size": "2.5"}, "batch_size"),
    ({"block_size": "512"}, "block_size"),  # over the tiny preset's 256
    ({"max_steps": "-5"}, "max_steps"),
    ({"lora": "on"}, "lora"),  # LoRA needs a pretrained base
    ({"base": "base:gpt2"}, "base"),  # not downloaded
    ({"preset": "huge"}, "preset"),
])
def test_out_of_bounds_values_are_refused(alice_client, corpus, redis_conn, values, field):
    data = run_form(corpus)
    data.update(values)
    response = alice_client.post(reverse("training:run_new"), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert field in response.context["form"].errors or response.context["form"].non_field_errors()
    assert TrainingRun.objects.count() == 0 and training_queue_ids(redis_conn) == []


def test_service_bounds_hold_without_the_form(alice, corpus, bases):
    from django.core.exceptions import ValidationError

    for extra in ({"epochs": float("nan")}, {"num_threads": 10_000}, {"vocab_size": 10}, {"output_dir": "/etc"},
                  {"learning_rate": 1.0}):
        with pytest.raises(ValidationError):
            services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"], extra=extra)
    assert TrainingRun.objects.count() == 0


def test_the_token_budget_is_capped(alice, corpus, bases, settings):
    from django.core.exceptions import ValidationError

    # Tokens of the tokenizer the from-scratch run trains: one epoch fits, two do not.
    settings.TRAINING_MAX_TOKEN_BUDGET = services.dataset_tokens_for(dataset=corpus, base_key="scratch:tiny")
    services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"], options={"epochs": 1})
    TrainingRun.objects.update(status="failed")
    with pytest.raises(ValidationError, match="tokens"):
        services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"], options={"epochs": 2})


def test_one_active_run_per_student_by_default(alice_client, alice, corpus, redis_conn):
    assert alice_client.post(reverse("training:run_new"), run_form(corpus)).status_code == 302
    response = alice_client.post(reverse("training:run_new"), run_form(corpus), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "already have a run in progress" in response.content.decode()
    assert TrainingRun.objects.count() == 1


def test_quota_is_configurable_and_the_queue_has_a_cap(alice, bob, corpus, bases, settings):
    settings.TRAINING_MAX_ACTIVE_RUNS_PER_USER = 2
    settings.TRAINING_MAX_QUEUED_RUNS = 2
    first = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    second = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    assert {first.active_slot, second.active_slot} == {0, 1}
    from tests.training.conftest import upload

    bob_data = services.dataset_create(owner=bob, uploaded_file=upload())
    with pytest.raises(services.RunRefused) as caught:
        services.training_run_create(owner=bob, dataset=bob_data, base_model=bases["tiny"])
    assert caught.value.code == "queue_full"
    # A finished run frees its slot.
    lifecycle.run_fail(run_id=first.pk, attempt=1, code="internal")
    settings.TRAINING_MAX_QUEUED_RUNS = 50
    third = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    assert third.active_slot == 0


@pytest.mark.slow
def test_two_concurrent_submits_make_exactly_one_run(transactional_db, alice, corpus, redis_conn):
    barrier = threading.Barrier(2)
    statuses = []

    def submit():
        from django.db import connection

        client = Client()
        client.force_login(alice)
        barrier.wait()
        statuses.append(client.post(reverse("training:run_new"), run_form(corpus)).status_code)
        connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302, 400]
    assert TrainingRun.objects.filter(owner=alice).count() == 1
    assert len(training_queue_ids(redis_conn)) == 1


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
    # The progress fragment of a finished run stops polling.
    fragment = client.get(reverse("training:run_progress", args=[run.code])).content.decode()
    assert "hx-trigger" not in fragment


def make_finished_run(owner, dataset, *, archive=True):
    run = TrainingRun.objects.create(owner=owner, dataset=dataset, status="succeeded", published_attempt=1,
                                     metrics={"base_val_loss": 6.0, "final_val_loss": 4.0, "base_perplexity": 403.4,
                                              "final_perplexity": 54.6},
                                     history=[{"step": 1, "train_loss": 6.0}, {"step": 2, "train_loss": 5.0,
                                                                               "val_loss": 5.5}],
                                     samples=[{"prompt": "Once", "base": " x", "tuned": " upon"}])
    if archive:
        run.archive_path.parent.mkdir(parents=True)
        run.archive_path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return run


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


def test_owner_and_instructors_download_the_archive(alice, carol, corpus, client):
    run = make_finished_run(alice, corpus)
    for user in (alice, carol):
        client.force_login(user)
        response = client.get(reverse("training:run_download", args=[run.code]))
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="llmschool-{run.code}.zip"'
        assert b"".join(response.streaming_content).startswith(b"PK")


def test_result_page_shows_before_after_and_the_chart(alice_client, alice, corpus):
    run = make_finished_run(alice, corpus)
    page = alice_client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "6.000" in html and "4.000" in html and "54.6" in html
    assert "<polyline" in html and "upon" in html and "Playground" in html
    assert "hx-trigger" not in html


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


def test_queue_position(alice, bob, corpus, bases):
    from tests.training.conftest import upload

    first = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    bob_data = services.dataset_create(owner=bob, uploaded_file=upload())
    second = services.training_run_create(owner=bob, dataset=bob_data, base_model=bases["tiny"])
    assert (first.queue_position(), second.queue_position()) == (1, 2)
    lifecycle.run_claim(run_id=first.pk, attempt=1, pid=1)
    first.refresh_from_db()
    assert (first.queue_position(), second.queue_position()) == (None, 1)


def test_compare_two_runs(alice_client, alice, corpus):
    a, b = make_finished_run(alice, corpus, archive=False), make_finished_run(alice, corpus, archive=False)
    page = alice_client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200 and "Side by side" in html and html.count("<polyline") == 2


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


def test_students_never_see_technical_detail(alice_client, alice, corpus):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="failed", error_code="out_of_memory",
                                     error_detail="Traceback (most recent call last): secret")
    html = alice_client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Out of memory" in html and "smaller batch size" in html and "secret" not in html


def test_download_base_model_explains_failures(db, settings):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="internet"):
        call_command("download_base_model", "not a valid/../repo id")


def test_playground_field_errors_reach_the_htmx_result_box(alice, corpus, client):
    run = make_finished_run(alice, corpus)
    client.force_login(alice)
    url = reverse("training:run_playground", args=[run.code])
    data = {"prompt": "Once", "temperature": 99, "top_k": 5, "top_p": 0.9, "max_new_tokens": 5}
    # htmx only swaps 2xx answers: the error comes back as 200, naming the field.
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="field-error"' in body and "Temperature:" in body and "<html" not in body
    # Without htmx the whole page answers 400 with the form and its error.
    response = client.post(url, data)
    assert response.status_code == 400 and "Temperature:" in response.content.decode()


def test_overfitting_warning_follows_the_curve_not_the_sticky_flag(alice, corpus, client):
    client.force_login(alice)
    wobble = [{"step": 2, "train_loss": 6.0, "val_loss": 5.1}, {"step": 4, "train_loss": 5.0, "val_loss": 5.5},
              {"step": 6, "train_loss": 4.5, "val_loss": 4.4}, {"step": 8, "train_loss": 4.4, "val_loss": 4.39}]
    recovered = make_finished_run(alice, corpus, archive=False)
    TrainingRun.objects.filter(pk=recovered.pk).update(overfitting=True, history=wobble)
    page = client.get(reverse("training:run_detail", args=[recovered.code])).content.decode()
    assert "Overfitting warning" not in page  # the best validation loss is the last one
    rising = wobble[:3] + [{"step": 8, "train_loss": 3.0, "val_loss": 5.0}]
    TrainingRun.objects.filter(pk=recovered.pk).update(history=rising)
    page = client.get(reverse("training:run_detail", args=[recovered.code])).content.decode()
    assert "Overfitting warning" in page


def test_run_settings_are_named_for_people(alice, corpus, client):
    client.force_login(alice)
    a, b = make_finished_run(alice, corpus, archive=False), make_finished_run(alice, corpus, archive=False)
    TrainingRun.objects.filter(pk=a.pk).update(hyperparameters={"epochs": 1.0, "grad_accum": 1, "odd_knob": 3})
    TrainingRun.objects.filter(pk=b.pk).update(hyperparameters={"epochs": 3.0, "grad_accum": 2})
    page = client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}").content.decode()
    assert "Gradient accumulation steps" in page and "Epochs" in page and "grad_accum" not in page
    assert "odd_knob" in page  # a setting without a name keeps its key
    detail = client.get(reverse("training:run_detail", args=[a.code])).content.decode()
    assert "Gradient accumulation steps" in detail and "grad_accum" not in detail


def test_a_run_that_has_not_counted_its_steps_shows_a_dash(alice, corpus, client):
    client.force_login(alice)
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="queued")
    page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
    assert '<dd data-field="step">—</dd>' in page and "0 / 0" not in page
    TrainingRun.objects.filter(pk=run.pk).update(status="running", step=3, total_steps=16)
    page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
    assert '<dd data-field="step">3 / 16</dd>' in page


def test_playground_opens_on_the_sample_prompt_in_the_texts_language(alice, corpus, client):
    client.force_login(alice)
    run = make_finished_run(alice, corpus, archive=False)
    samples = [{"prompt": "昔々、ある村に", "tuned": "x"}, {"prompt": "Once upon a time,", "tuned": "y"}]

    def default_prompt(share):
        TrainingRun.objects.filter(pk=run.pk).update(samples=samples, metrics={"data": {"japanese_share": share}})
        page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
        return page.split('name="prompt"')[1].split("</textarea>")[0]

    assert default_prompt(0.0).endswith("Once upon a time,")
    assert default_prompt(0.9).endswith("昔々、ある村に")
