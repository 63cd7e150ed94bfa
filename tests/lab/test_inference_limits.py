"""One student cannot take the site down: the lab and the playground run on inference workers,
with one request in flight per student, a rate per minute, a bounded wait ("busy, try again"),
and every failure answered in words (JSON for the lab)."""
import threading

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from rq import Queue

from tests.conftest import wait_for
from tests.factories import make_user
from tests.lab.conftest import api, error_of
from training import inference
from training.worker import InferenceWorker

NOBODY = "inference-nobody"  # a queue no worker serves: a request there waits until its time is up


@pytest.fixture
def alice(db):
    """English, so that the assertions read the English messages (Japanese: see below)."""
    return make_user("alice", preferred_language="en")


@pytest.fixture
def unserved(monkeypatch):
    """Inference jobs go to a queue that no worker serves (until the test runs one itself); the
    requests of students over their fair share to `unserved.bulk`."""
    queue = Queue(NOBODY, connection=inference.connection())
    queue.bulk = Queue(NOBODY + "-bulk", connection=inference.connection())
    for each in (queue, queue.bulk):
        each.empty()
    monkeypatch.setattr(inference, "inference_queue", lambda bulk=False: queue.bulk if bulk else queue)
    yield queue
    for each in (queue, queue.bulk):
        each.empty()


def next_token(client, run, expect=None, **params):
    return api(client, "lab:api_next_token", expect, model=str(run.code), prompt="the cat", **params)


# -- busy ------------------------------------------------------------------------------------

def test_no_answer_within_the_wait_is_a_json_busy_and_the_job_is_withdrawn(alice_client, alice, alice_run, unserved,
                                                                           settings):
    settings.INFERENCE_WAIT_SECONDS = 0.2
    error = error_of(next_token(alice_client, alice_run, expect=503))
    assert error["code"] == "busy" and "try again" in error["message"]
    assert unserved.count == 0  # nobody will work for an answer no one waits for
    assert inference.connection().get(inference.inflight_key(alice.pk)) is None  # the student may try again
    assert error_of(next_token(alice_client, alice_run, expect=503))["code"] == "busy"


def test_a_full_queue_answers_busy_at_once(alice_client, alice_run, unserved, settings):
    settings.INFERENCE_MAX_QUEUED = 1
    unserved.enqueue_call("training.inference_tasks.run_task", args=("tokenize", {"text": "a"}))
    settings.INFERENCE_WAIT_SECONDS = 120.0  # never reached: the request is not queued at all
    assert error_of(next_token(alice_client, alice_run, expect=503))["code"] == "busy"
    assert unserved.count == 1


def test_when_the_process_has_its_waiting_threads_a_request_is_busy_at_once(alice_client, alice, alice_run,
                                                                          unserved, monkeypatch):
    """Threads waiting for answers are capped per web process, so that its other threads serve
    pages: one more lab request is answered busy without being counted or queued."""
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(inference, "_waiting", slots)
    assert slots.acquire(blocking=False)  # the process's one waiting thread, elsewhere
    try:
        assert error_of(next_token(alice_client, alice_run, expect=503))["code"] == "busy"
        assert unserved.count == 0 and inference.connection().get(inference.rate_key(alice.pk)) is None
    finally:
        slots.release()
    assert inference.waiting_slots() is slots and slots.acquire(blocking=False)  # the refusal took no slot
    slots.release()


# -- fair share ------------------------------------------------------------------------------------

@pytest.fixture
def half_held(monkeypatch):
    """A web process with two waiting threads, one of them held by a request of a student over
    their fair share (a flood): the heavy half is taken, the other half is free."""
    slots, heavy = threading.BoundedSemaphore(2), threading.BoundedSemaphore(1)
    monkeypatch.setattr(inference, "_waiting", slots)
    monkeypatch.setattr(inference, "_waiting_heavy", heavy)
    assert heavy.acquire(blocking=False) and slots.acquire(blocking=False)
    yield
    heavy.release()
    slots.release()


def over_fair_share(user, settings):
    settings.INFERENCE_FAIR_SHARE_PER_MINUTE = 20
    inference.connection().set(inference.attempts_key(user.pk), 20, ex=60)  # 20 attempts this minute


def test_a_student_over_their_fair_share_gets_half_the_waiting_threads(alice_client, alice, alice_run, bob, demo_run,
                                                                       unserved, half_held, settings):
    """A flood holds at most half of a process's waiting threads: a student who asks now and then
    still gets their request queued while the flood's next one is busy at once."""
    settings.INFERENCE_WAIT_SECONDS = 0.2
    over_fair_share(alice, settings)
    assert error_of(next_token(alice_client, alice_run, expect=503))["code"] == "busy"
    assert inference.connection().get(inference.rate_key(alice.pk)) is None  # refused before it was counted
    assert inference.connection().get(inference.attempts_key(alice.pk)) == b"21"  # but the attempt counts
    client = Client()
    client.force_login(bob)
    assert error_of(next_token(client, demo_run, expect=503))["code"] == "busy"  # no worker here: queued, then busy
    assert inference.connection().get(inference.rate_key(bob.pk)) == b"1"  # it went through the free half


def test_a_student_over_their_fair_share_waits_in_the_bulk_queue(alice_client, alice, alice_run, bob, demo_run,
                                                                 unserved, settings, monkeypatch):
    """Over the fair share, requests wait in a queue of their own, half as long as the main one."""
    settings.INFERENCE_MAX_QUEUED, settings.INFERENCE_WAIT_SECONDS = 4, 0.2
    queued = []
    for queue in (unserved, unserved.bulk):
        monkeypatch.setattr(queue, "enqueue_call", lambda *a, _queue=queue, _call=queue.enqueue_call, **k:
                            queued.append((_queue.name, k.get("job_id"))) or _call(*a, **k))
    over_fair_share(alice, settings)
    assert error_of(next_token(alice_client, alice_run, expect=503))["code"] == "busy"
    assert [name for name, _ in queued] == [NOBODY + "-bulk"]  # queued at the back, withdrawn after its wait
    for _ in range(2):
        unserved.bulk.enqueue_call("training.inference_tasks.run_task", args=("tokenize", {"text": "a"}))
    assert error_of(next_token(alice_client, alice_run, expect=503))["code"] == "busy"
    assert len(queued) == 3 and unserved.bulk.count == 2  # the bulk queue holds half as many: not queued
    client = Client()
    client.force_login(bob)
    assert error_of(next_token(client, demo_run, expect=503))["code"] == "busy"  # no worker here: queued, then busy
    assert queued[-1][0] == NOBODY and unserved.count == 0  # in the main queue, withdrawn after its wait


def test_a_student_over_their_fair_share_waits_a_quarter_as_long(alice, alice_run, unserved, settings, monkeypatch):
    """The deadline a job carries bounds how long its generation holds a worker (see below)."""
    import time
    from types import SimpleNamespace

    settings.INFERENCE_WAIT_SECONDS = 0.4
    # The wall clock the deadline is read from stands still (the wait itself runs on the real one).
    monkeypatch.setattr(inference, "time", SimpleNamespace(time=lambda: 1000.0, monotonic=time.monotonic))
    deadlines = []
    for queue in (unserved, unserved.bulk):
        monkeypatch.setattr(queue, "enqueue_call", lambda *a, _call=queue.enqueue_call, **k:
                            deadlines.append(k["meta"]["deadline"] - 1000.0) or _call(*a, **k))
    payload = {"text": "a"}
    with pytest.raises(inference.InferenceBusy):
        inference.inference_call(alice, "tokenize", payload)  # no worker here: busy after its wait
    over_fair_share(alice, settings)
    with pytest.raises(inference.InferenceBusy):
        inference.inference_call(alice, "tokenize", payload)
    assert deadlines == [pytest.approx(0.4), pytest.approx(0.1)]


def test_an_inference_worker_serves_the_main_queue_before_the_bulk_one(monkeypatch, scratch_model_dir):
    """`rqworker inference` serves both queues, the students within their fair share first."""
    assert inference.with_bulk_queue(["inference"]) == ["inference", "inference-bulk"]
    assert inference.with_bulk_queue(["default"]) == ["default"]
    redis = inference.connection()
    monkeypatch.setattr(inference, "QUEUE_NAME", NOBODY)  # queues no other worker of the suite serves
    monkeypatch.setattr(inference, "BULK_QUEUE_NAME", NOBODY + "-bulk")
    main, bulk = (Queue(name, connection=redis) for name in (NOBODY, NOBODY + "-bulk"))
    for queue in (main, bulk):
        queue.empty()
    payload = {"text": "the cat", "model_dir": scratch_model_dir}
    flood = bulk.enqueue_call("training.inference_tasks.run_task", args=("tokenize", payload))
    asked = main.enqueue_call("training.inference_tasks.run_task", args=("tokenize", payload))
    worker = InferenceWorker([main], connection=main.connection)
    assert worker.queue_names() == [NOBODY, NOBODY + "-bulk"]
    worker.work(burst=True)
    flood.refresh()
    asked.refresh()
    assert asked.is_finished and flood.is_finished and asked.ended_at <= flood.started_at


def test_a_student_within_their_fair_share_is_not_held_back(alice, settings):
    settings.INFERENCE_FAIR_SHARE_PER_MINUTE = 20
    inference.connection().set(inference.attempts_key(alice.pk), 19, ex=60)
    assert not inference.over_fair_share(alice.pk)  # the 20th attempt
    assert inference.over_fair_share(alice.pk)  # the 21st
    assert 0 < inference.connection().ttl(inference.attempts_key(alice.pk)) <= 60


# -- one request in flight ----------------------------------------------------------------------

def test_a_second_request_while_one_is_in_flight_is_refused(alice_client, alice, alice_run, unserved,
                                                            scratch_model_dir):
    answers = []
    payload = {"text": "the cat", "model_dir": scratch_model_dir}
    first = threading.Thread(target=lambda: answers.append(inference.inference_call(alice, "tokenize", payload,
                                                                                    wait=120)))
    first.start()
    try:
        wait_for(lambda: unserved.count == 1, timeout=30, interval=0.02, message="the first request to be queued")
        for name in ("lab:api_next_token", "lab:api_attention", "lab:api_tokenize"):
            response = api(alice_client, name, 429, model=str(alice_run.code), prompt="a", text="a")
            assert error_of(response)["code"] == "in_flight"
        assert unserved.count == 1  # the refused ones were never queued
    finally:
        InferenceWorker([unserved], connection=unserved.connection).work(burst=True)  # answer the first one
        first.join(30)
    assert answers and answers[0]["run"]["count"] > 0
    assert inference.connection().get(inference.inflight_key(alice.pk)) is None  # answered: the next may go


def test_another_student_is_not_held_up_by_one_in_flight(alice, bob, demo_run, client):
    inference.connection().set(inference.inflight_key(alice.pk), "alices-job", ex=60)
    client.force_login(bob)
    assert next_token(client, demo_run, expect=200).json()["candidates"]


# -- rate per minute ------------------------------------------------------------------------------

def test_more_than_the_rate_per_minute_is_a_429(alice_client, alice, alice_run, settings):
    settings.INFERENCE_RATE_PER_MINUTE = 2
    for _ in range(2):
        api(alice_client, "lab:api_tokenize", 200, text="a")
    error = error_of(api(alice_client, "lab:api_tokenize", 429, text="a"))
    assert error["code"] == "rate_limited" and error["params"] == {"limit": 2}
    assert "at most 2 a minute" in error["message"]
    assert error_of(next_token(alice_client, alice_run, expect=429))["code"] == "rate_limited"
    assert 0 < inference.connection().ttl(inference.rate_key(alice.pk)) <= 60  # the window ends


def test_the_limit_messages_are_japanese_for_a_japanese_student(alice, alice_run, client, settings):
    settings.INFERENCE_RATE_PER_MINUTE = 1
    alice.preferred_language = "ja"
    alice.save()
    client.force_login(alice)
    api(client, "lab:api_tokenize", 200, text="a")
    message = error_of(api(client, "lab:api_tokenize", 429, text="a"))["message"]
    with translation.override("ja"):
        assert message == translation.gettext(
            "You sent too many requests (at most %(limit)s a minute). Wait a moment, then try again.") % {"limit": 1}
        for english in ("You sent too many requests (at most %(limit)s a minute). Wait a moment, then try again.",
                        "Your previous request is still running. Wait for its answer, then try again.",
                        "The models are busy right now. Please try again in a few seconds."):
            assert translation.gettext(english) != english


# -- every failure in words -------------------------------------------------------------------------

def test_a_tiny_temperature_is_greedy(alice_client, alice_run):
    data = next_token(alice_client, alice_run, expect=200, temperature="1e-45", k=5).json()
    assert len(data["candidates"]) == 1 and data["candidates"][0]["probability"] == 1.0
    assert data["settings"]["temperature"] == 0.0
    greedy = next_token(alice_client, alice_run, expect=200, temperature="0", k=5).json()
    assert data["sampled"]["token_id"] == greedy["sampled"]["token_id"]


def test_a_broken_model_is_a_json_error(alice_client, alice, make_lab_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "gpt2", "n_layer": ')
    (broken / "model.safetensors").write_bytes(b"not tensors")
    run = make_lab_run(alice, model_dir=str(broken))
    for name in ("lab:api_next_token", "lab:api_attention"):
        response = api(alice_client, name, model=str(run.code), prompt="a", text="a")
        assert response.status_code == 500
        error = error_of(response)
        assert error["code"] == "inference_failed" and "could not answer" in error["message"]


def test_any_other_failure_is_a_json_error(alice_client, alice_run, monkeypatch):
    from training.lab import services

    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "next_token_view", fail)
    response = next_token(alice_client, alice_run, expect=500)
    assert error_of(response)["code"] == "lab_error" and "a bug" not in response.content.decode()


def test_a_long_japanese_text_is_posted_not_put_in_the_url(alice_client, alice_run):
    """Above ~450 Japanese characters a GET URL passed gunicorn's 4,094-byte request line."""
    from training.lab import services

    text = "東京メトロに乗って、猫カフェへ行く。" * 27  # 486 characters, 4,374 bytes of UTF-8
    assert len(text) <= services.MAX_TOKENIZE_CHARS and len(text.encode()) * 3 > 4094
    data = api(alice_client, "lab:api_tokenize", 200, text=text, model=str(alice_run.code)).json()
    assert data["chars"] == len(text)


# -- the playground -----------------------------------------------------------------------------------

def playground(client, run, **headers):
    return client.post(reverse("training:run_playground", args=[run.code]),
                       {"prompt": "the cat", "temperature": 0.8, "top_k": 20, "top_p": 0.9, "max_new_tokens": 5},
                       HTTP_ACCEPT_LANGUAGE="en", **headers)


def test_the_playground_generates_on_the_worker(alice_client, alice_run):
    response = playground(alice_client, alice_run, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<mark>" in response.content.decode()


def test_the_playground_says_busy_and_over_the_limit_in_the_form(alice_client, alice, alice_run, unserved, settings):
    settings.INFERENCE_WAIT_SECONDS = 0.2
    response = playground(alice_client, alice_run, HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # htmx swaps only 2xx answers into the result box
    assert "The models are busy right now" in response.content.decode()
    page = playground(alice_client, alice_run)
    assert page.status_code == 503 and "The models are busy right now" in page.content.decode()
    settings.INFERENCE_RATE_PER_MINUTE = 2
    page = playground(alice_client, alice_run)
    assert page.status_code == 429 and "at most 2 a minute" in page.content.decode()
    assert 'name="prompt"' in page.content.decode()  # the form is still there, with the prompt
    inference.connection().delete(inference.rate_key(alice.pk))
    inference.connection().set(inference.inflight_key(alice.pk), "another-tab", ex=60)
    page = playground(alice_client, alice_run)
    assert page.status_code == 429 and "still running" in page.content.decode()


# -- answers that arrive in time --------------------------------------------------------------------

def test_a_generation_stops_at_its_requesters_deadline(unserved, scratch_model_dir, monkeypatch):
    """Under load a playground job may start late: it stops generating a little before the web
    request stops waiting, so the student gets a shorter answer instead of "busy"; a job whose
    requester is already gone is skipped."""
    import time

    from training import inference_tasks

    payload = {"model_dir": scratch_model_dir, "prompt": "the cat", "max_new_tokens": 40, "temperature": 0.0,
               "top_k": None, "top_p": None, "seed": 1}
    monkeypatch.setattr(inference_tasks, "ANSWER_MARGIN_SECONDS", 3600.0)  # its deadline has come already
    late = unserved.enqueue_call(inference.JOB_FUNCTION, args=("generate", payload),
                                 meta={"deadline": time.time() + 3600})
    gone = unserved.enqueue_call(inference.JOB_FUNCTION, args=("generate", payload),
                                 meta={"deadline": time.time() - 1})
    free = unserved.enqueue_call(inference.JOB_FUNCTION, args=("generate", payload))
    InferenceWorker([unserved], connection=unserved.connection).work(burst=True)
    late_answer, gone_answer, free_answer = (job.latest_result().return_value for job in (late, gone, free))
    assert late_answer["result"]["cut_short"] and not free_answer["result"]["cut_short"]
    assert 0 < len(late_answer["result"]["text"]) < len(free_answer["result"]["text"])  # one token, then time
    assert gone_answer == {"error": {"code": "expired", "params": {}}}


def test_an_answer_cut_short_says_so_in_the_playground(alice_client, alice, alice_run, monkeypatch):
    from training import views

    monkeypatch.setattr(views, "inference_call", lambda *a, **k: {"text": " sat", "cut_short": True})
    page = alice_client.post(reverse("training:run_playground", args=[alice_run.code]),
                             {"prompt": "the cat", "max_new_tokens": 40, "temperature": 0.8, "top_k": 50,
                              "top_p": 0.95}, HTTP_HX_REQUEST="true").content.decode()
    assert "sat" in page and "the answer stopped early so that it reached you in time" in page
    monkeypatch.setattr(views, "inference_call", lambda *a, **k: {"text": " sat", "cut_short": False})
    page = alice_client.post(reverse("training:run_playground", args=[alice_run.code]),
                             {"prompt": "the cat", "max_new_tokens": 40, "temperature": 0.8, "top_k": 50,
                              "top_p": 0.95}, HTTP_HX_REQUEST="true").content.decode()
    assert "sat" in page and "stopped early" not in page
