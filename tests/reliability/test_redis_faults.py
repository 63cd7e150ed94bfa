"""Faults of Redis, with real processes: Redis down when a student submits, Redis restarted
while a run trains, Redis emptied (FLUSHALL) while a run waits and while it trains; and two
submits at once from one student against the live server."""
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.test import Client
from django.urls import reverse

from tests.reliability.conftest import assert_finished_cleanly, fresh, queue_run, wait_status
from training.reconciler import reconcile

pytestmark = pytest.mark.slow
QUICK_RECONCILE = {"TRAINING_RECONCILE_INTERVAL_SECONDS": 1, "TRAINING_HEARTBEAT_STALE_SECONDS": 20}


def run_form(corpus, **fields):
    return {"dataset": str(corpus.code), "base": "base:tiny", "preset": "quick", "max_steps": "40", **fields}


def test_redis_down_at_submit_then_restarted_mid_run(student, tiny, corpus, fault_worker, private_redis, settings):
    from training.models import TrainingRun

    settings.TRAINING_EXTRA_HYPERPARAMETERS = {**settings.TRAINING_EXTRA_HYPERPARAMETERS, "checkpoint_every_steps": 5}
    # 1. Redis is down when the student submits: the run is kept, queued, and the student told so.
    private_redis.stop()
    client = Client()
    client.force_login(student)
    response = client.post(reverse("training:run_new"), run_form(corpus, max_steps="60"), follow=True,
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "start automatically as soon as the queue is back" in response.content.decode()
    run = TrainingRun.objects.get(owner=student)
    assert run.status == "queued" and run.rq_job_id == ""

    # 2. Redis comes back; a worker's reconciler enqueues the run without anyone submitting again.
    private_redis.start()
    settings.REDIS_URL = private_redis.url
    worker = fault_worker(settings=QUICK_RECONCILE, hold=["checkpoint:5"])
    try:
        fault_worker.held("checkpoint:5")
    except AssertionError:
        print("\n".join(l for l in worker.output().splitlines() if "cleaning registries" not in l)[-6000:])
        raise
    assert fresh(run).status == "running" and run.checkpoint_step == 5

    # 3. Redis restarts while the run trains (its append-only file keeps the queue's state).
    private_redis.restart()
    fault_worker.release("checkpoint:5")
    wait_status(run, {"succeeded", "failed", "cancelled"}, timeout=120, worker=worker)
    assert run.status == "succeeded", run.error_detail + worker.output()[-3000:]
    assert_finished_cleanly(run)
    assert worker.process.poll() is None, "the worker died with the Redis restart:\n" + worker.output()[-3000:]
    assert private_redis.connection().ping()


def test_flushall_while_queued_and_while_training_loses_no_run(student, tiny, corpus, fault_worker, redis_conn):
    run = queue_run(student, tiny, corpus, max_steps=60)
    assert redis_conn.exists(f"rq:job:{run.job_id}")
    redis_conn.flushall()  # the job is gone before any worker saw it
    worker = fault_worker(settings=QUICK_RECONCILE, hold=["eval:5"])
    fault_worker.held("eval:5")  # the reconciler enqueued the lost job, and it trains
    redis_conn.flushall()  # and gone again while it trains
    fault_worker.release("eval:5")
    wait_status(run, {"succeeded", "failed", "cancelled"}, timeout=120, worker=worker)
    assert run.status == "succeeded", run.error_detail
    assert run.attempt == 1 and run.published_attempt == 1, "a live, beating run is left to finish"
    assert_finished_cleanly(run)
    reconcile()  # a reconciler pass after the end queues nothing again
    assert fresh(run).status == "succeeded" and not redis_conn.exists(f"rq:job:run-{run.pk}-2")


class Browser:
    """A logged-in student as a browser is: cookies, a CSRF token, real HTTP to the live server."""

    def __init__(self, base_url, cookies: dict):
        self.base_url = base_url
        self.cookies = dict(cookies)
        self.opener = urllib.request.build_opener(NoRedirect())

    def _open(self, request):
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            for header in response.headers.get_all("Set-Cookie") or []:
                name, value = header.split(";", 1)[0].split("=", 1)
                self.cookies[name.strip()] = value.strip()
            return response.status, response.read()

    def get(self, path):
        return self._open(urllib.request.Request(self.base_url + path))

    def post(self, path, data):
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.cookies["csrftoken"]}).encode()
        return self._open(urllib.request.Request(self.base_url + path, body,
                                                 headers={"Referer": self.base_url + path}))[0]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_two_submits_at_once_from_one_student_make_one_run(student, tiny, corpus, live_server, redis_conn):
    """Two browser tabs (and a double click) submit at the same instant over real HTTP."""
    from django.conf import settings as django_settings

    from training.models import TrainingRun

    django_client = Client()
    django_client.force_login(student)
    session = django_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    tabs = [Browser(live_server.url, {django_settings.SESSION_COOKIE_NAME: session}) for _ in range(4)]
    for tab in tabs:
        assert tab.get(reverse("training:run_new"))[0] == 200
    barrier = threading.Barrier(len(tabs))
    statuses = []

    def submit(tab):
        barrier.wait()
        statuses.append(tab.post(reverse("training:run_new"), run_form(corpus)))

    threads = [threading.Thread(target=submit, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [302] + [400] * (len(tabs) - 1), statuses
    run = TrainingRun.objects.get(owner=student)
    assert run.status == "queued" and run.active_slot == 0
    assert redis_conn.lrange("rq:queue:training", 0, -1) == [run.job_id.encode()]
