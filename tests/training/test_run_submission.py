"""Queuing a run: the new-run page and its estimate, bounds (in the form and in the service),
the token budget, quotas (also under concurrency), enqueue on commit and the queue position."""
import threading

import pytest
from django.test import Client
from django.urls import reverse
from rq.job import Job

from tests.factories import make_checked_dataset, run_form
from tests.training.conftest import training_queue_ids
from training import lifecycle, services
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


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
    from tests.factories import upload

    bob_data = make_checked_dataset(bob, upload())
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


def test_queue_position(alice, bob, corpus, bases):
    from tests.factories import upload

    first = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    bob_data = make_checked_dataset(bob, upload())
    second = services.training_run_create(owner=bob, dataset=bob_data, base_model=bases["tiny"])
    assert (first.queue_position(), second.queue_position()) == (1, 2)
    lifecycle.run_claim(run_id=first.pk, attempt=1, pid=1)
    first.refresh_from_db()
    assert (first.queue_position(), second.queue_position()) == (None, 1)
