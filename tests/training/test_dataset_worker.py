"""The dataset check as a job on the `default` queue, with a real Redis and real worker
processes (issue #14): the upload answers at once, the page follows the check, a deep JSONL
gets a clear message (not a 500), a check whose work horse is killed is not stuck for ever."""
import json
import os
import signal

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import FAULT_WORKER, wait_for
from tests.factories import make_text, upload
from training.models import Dataset

pytestmark = pytest.mark.slow


def fresh(dataset) -> Dataset:
    dataset.refresh_from_db()
    return dataset


def wait_check(dataset, statuses=(Dataset.READY, Dataset.FAILED), timeout=120.0) -> Dataset:
    wait_for(lambda: fresh(dataset).check_status in statuses, timeout=timeout, interval=0.1,
             message=f"the check of dataset {dataset.pk} to end")
    return dataset


@pytest.fixture
def client_alice(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_the_upload_answers_before_the_check_and_the_page_follows_it(client_alice, alice, bases, start_worker):
    # No worker yet: the request cannot have waited for the check.
    response = client_alice.post(reverse("training:datasets"), {"file": upload("story.txt")},
                                 HTTP_ACCEPT_LANGUAGE="en")
    dataset = Dataset.objects.get(owner=alice)
    assert response.status_code == 302 and dataset.is_checking and not dataset.report and not dataset.file
    page = client_alice.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Checking…" in page and 'hx-trigger="every 2s"' in page and "Train a model on it" not in page
    status_url = reverse("training:dataset_status", args=[dataset.code])
    assert client_alice.get(status_url + "?format=json").json()["status"] == "checking"
    # The run form lists it, not selectable, and says why.
    new_run = client_alice.get(reverse("training:run_new"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "is still being checked" in new_run
    refused = client_alice.post(reverse("training:run_new"), {"dataset": str(dataset.code), "base": "base:tiny",
                                                              "preset": "quick"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400 and "is still being checked" in refused.content.decode()

    worker = start_worker("default")
    wait_check(dataset)
    assert dataset.check_status == Dataset.READY, worker.output()
    assert dataset.report["tokens"] > 0 and dataset.file and not dataset.original
    # The polling fragment tells htmx to reload; the page then shows the figures.
    live = client_alice.get(status_url + "?live=1", HTTP_HX_REQUEST="true")
    assert live.headers.get("HX-Refresh") == "true"
    page = client_alice.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "What is in it" in page and "Checking…" not in page and "Train a model on it" in page


def test_a_deeply_nested_jsonl_gets_a_clear_message_not_a_500(client_alice, alice, bases, start_worker):
    deep = json.dumps({"text": make_text(5)}) + "\n" + '{"text": "x", "a": ' + "[" * 5000 + "]" * 5000 + "}\n"
    start_worker("default")
    response = client_alice.post(reverse("training:datasets"), {"file": upload("deep.jsonl", deep.encode())},
                                 HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    dataset = wait_check(Dataset.objects.get(owner=alice))
    assert dataset.check_status == Dataset.FAILED and dataset.error_code == "json_too_deep"
    page = client_alice.get(response.url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Line 2 nests JSON more than 20 levels deep" in page.content.decode()


def test_a_check_whose_work_horse_is_killed_is_not_stuck(client_alice, alice, bases, fault_worker, start_worker):
    from training.reconciler import reconcile

    fault_worker.environment(hold=["check:1"])
    start_worker("default", extra_args=FAULT_WORKER)
    client_alice.post(reverse("training:datasets"), {"file": upload("story.txt")})
    dataset = Dataset.objects.get(owner=alice)
    horse = fault_worker.held("check:1")
    assert fresh(dataset).is_checking and dataset.check_started_at is not None
    os.kill(horse, signal.SIGKILL)  # as the OOM killer would: RQ runs no failure hook

    # The reconciler (every training worker runs it) sees the dead job and fails the check.
    wait_for(lambda: reconcile().get("check_lost"), timeout=60, message="the reconciler to see the lost check")
    assert fresh(dataset).check_status == Dataset.FAILED and dataset.error_code == "check_lost"
    page = client_alice.get(reverse("training:dataset_detail", args=[dataset.code]),
                            HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "stopped unexpectedly" in page and "Check again" in page

    # "Check again" queues attempt 2, which the same worker checks to the end.
    fault_worker.release("check:1")
    response = client_alice.post(reverse("training:dataset_recheck", args=[dataset.code]))
    assert response.status_code == 302 and fresh(dataset).check_attempt == 2
    wait_check(dataset)
    assert dataset.check_status == Dataset.READY and dataset.report["tokens"] > 0 and not dataset.error_code
