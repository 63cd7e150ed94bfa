"""Insecure direct object references: Bob asks for Alice's things by their ids.

The routes come from the URLconf: any route with a UUID in its path is treated as
owner-scoped and tried with every UUID Alice owns (datasets, runs in each state, quiz
attempts). Bob must get 404 (405 where the view does not take the method), never a byte of
Alice's data, and nothing of Alice's may change. A new route with another kind of
parameter fails `test_every_route_with_parameters_is_classified` until someone decides
whether it is owner-scoped.
"""
import pytest
from django.test import Client
from django.urls import reverse

from tests.abuse.urlmap import build_path, site_routes

# Routes whose parameters do not name something a student owns, and why.
NOT_OWNER_SCOPED = {
    "courses:detail": "courses are public",
    "courses:lesson": "lessons are public",
    "courses:lesson_complete": "records progress for the requesting user only",
    "quizzes:detail": "quizzes are shared by every student",
    "quizzes:attempt_start": "starts an attempt for the requesting user only",
    "password_reset_confirm": "Django's signed token",
    "email_verify_confirm": "a signed token naming the account and its address (tests/abuse/test_email_verification.py)",
}
SECRET_MARKERS = (b"alice-model-7f3a", b"alice-diary")


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def uuid_routes():
    return [route for route in site_routes() if route.uuid_params]


def test_there_are_owner_scoped_routes_to_check():
    names = {route.name for route in uuid_routes()}
    assert {"training:run_detail", "training:run_download", "quizzes:attempt_result"} <= names


def test_every_route_with_parameters_is_classified():
    unclassified = [route.route for route in site_routes()
                    if route.converters and not route.uuid_params and route.name not in NOT_OWNER_SCOPED]
    assert unclassified == [], ("new routes with non-UUID parameters: add them to NOT_OWNER_SCOPED with a reason, "
                                "or use a UUID (owner-scoped, checked automatically)")


def snapshot(world) -> dict:
    """What Bob must not be able to change."""
    from quizzes.models import Attempt
    from training.models import Dataset, TrainingRun

    runs = {r.code: (r.status, r.attempt, r.cancel_requested_at, r.name, r.is_demo)
            for r in TrainingRun.objects.filter(owner=world.alice)}
    return {
        "runs": runs,
        "datasets": list(Dataset.objects.filter(owner=world.alice).values_list("code", "name")),
        "attempts": list(Attempt.objects.filter(student=world.alice).values_list("code", "submitted_at", "score")),
        "dataset_file": world.dataset.path.read_bytes(),
        "archive": world.run_succeeded.archive_path.read_bytes(),
    }


@pytest.mark.parametrize("route", uuid_routes(), ids=lambda r: r.name)
def test_another_students_ids_answer_404_without_a_byte(client, world, route):
    client.force_login(world.bob)
    before = snapshot(world)
    for what, code in world.owned_codes().items():
        path = build_path(route, {name: code for name in route.uuid_params})
        statuses = []
        for method in ("get", "post"):
            response = getattr(client, method)(path, {"prompt": "x", "temperature": 1, "top_k": 5, "top_p": 1,
                                                       "max_new_tokens": 5} if method == "post" else None)
            body = body_of(response)
            statuses.append(response.status_code)
            assert response.status_code in (404, 405), f"{method.upper()} {path} ({what}) gave {response.status_code}"
            assert not any(marker in body for marker in SECRET_MARKERS), f"{path} leaked Alice's data"
            assert world.archive_bytes not in body
        assert 404 in statuses, f"{path}: neither GET nor POST reached the owner check"
    assert snapshot(world) == before


@pytest.mark.parametrize("route", uuid_routes(), ids=lambda r: r.name)
def test_the_owner_reaches_the_same_routes(client, world, route):
    """The check above means something only if Alice's own ids do work on these routes.
    POST-only routes (405 on GET) change state: their owner check is the same selector."""
    client.force_login(world.alice)
    statuses = {what: client.get(build_path(route, {name: code for name in route.uuid_params})).status_code
                for what, code in world.owned_codes().items()}
    if set(statuses.values()) == {405}:
        return
    assert any(status not in (404, 405) for status in statuses.values()), f"{route.route}: {statuses}"


@pytest.mark.parametrize("route", uuid_routes(), ids=lambda r: r.name)
def test_anonymous_visitors_are_sent_to_log_in(world, route):
    client = Client()
    for code in world.owned_codes().values():
        path = build_path(route, {name: code for name in route.uuid_params})
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code in (302, 404, 405), f"{method.upper()} {path}: {response.status_code}"
            if response.status_code == 302:
                assert response.url.startswith(reverse("login"))
            assert world.archive_bytes not in body_of(response)


def test_compare_with_another_students_runs_is_404(client, world):
    client.force_login(world.bob)
    code = world.run_succeeded.code
    response = client.get(reverse("training:compare"), {"a": code, "b": code})
    assert response.status_code == 404
    assert b"alice" not in response.content.lower()


def lab_api_routes():
    return [route for route in site_routes() if route.route.startswith("lab/api/")]


def lab_call(client, route, data):
    """The API's answer with its own method: those that take text answer POST (405 to a GET)."""
    data = {"user": "hello", "assistant": "hello", **data}
    response = client.get(build_path(route, {}), data)
    return client.post(build_path(route, {}), data) if response.status_code == 405 else response


@pytest.mark.parametrize("route", lab_api_routes(), ids=lambda r: r.name)
def test_the_lab_will_not_open_another_students_model(client, world, route, settings):
    """The lab names models in the query string (?model=<code>), so the URLconf scan above misses it."""
    # Alice's own model passes the ownership check and is queued; no inference worker runs here,
    # so it is answered "busy" after this wait (the default, 20 s, would only slow the suite).
    settings.INFERENCE_WAIT_SECONDS = 1
    client.force_login(world.bob)
    for what, code in world.owned_codes().items():
        response = lab_call(client, route, {"model": str(code), "text": "hello", "prompt": "hello"})
        # 404, or an answer about Bob's own models (the APIs that take no model ignore the parameter).
        if response.status_code != 200:
            assert response.status_code == 404, f"{route.route}?model=<{what}>: {response.status_code}"
            assert response.json()["error"]["code"] == "not_found"
        assert not any(marker in response.content for marker in SECRET_MARKERS)
        assert not any(str(c).encode() in response.content for c in world.owned_codes().values())
    client.force_login(world.alice)
    response = lab_call(client, route, {"model": str(world.run_succeeded.code), "text": "hi", "prompt": "hi"})
    assert response.status_code != 404 or response.json()["error"]["code"] != "not_found"


def test_an_instructor_may_download_any_archive(client, world):
    from tests.factories import make_user

    client.force_login(make_user("teacher", instructor=True))
    response = client.get(reverse("training:run_download", args=[world.run_succeeded.code]))
    assert response.status_code == 200
    assert body_of(response) == world.archive_bytes


def test_a_run_cannot_be_made_from_another_students_dataset_or_run(client, world):
    from training.models import TrainingRun

    client.force_login(world.bob)
    for dataset, base in [(world.dataset.code, "base:scratch-tiny"),
                          (world.dataset.code, f"run:{world.run_succeeded.code}")]:
        response = client.post(reverse("training:run_new"), {"dataset": str(dataset), "base": base, "preset": "quick"})
        assert response.status_code == 400
        assert b"alice-diary" not in response.content
    assert not TrainingRun.objects.filter(owner=world.bob).exists()


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def urlconf_as_run(request, settings):
    """The URLconf as `make run` (DEBUG on by default) and production build it: urls.py reads
    DEBUG when imported, which in tests happens with DEBUG off."""
    import importlib.util
    import sys

    settings.DEBUG = request.param
    spec = importlib.util.find_spec("llmschool.urls")
    module = importlib.util.module_from_spec(spec)
    name = f"tests.abuse._urls_debug_{request.param}"
    sys.modules[name] = module
    spec.loader.exec_module(module)
    settings.ROOT_URLCONF = name
    yield
    sys.modules.pop(name, None)


def test_alices_uploaded_files_are_not_served_as_media(client, world, urlconf_as_run):
    """Datasets and archives live under MEDIA_ROOT; no URL may serve them but the owner-scoped views."""
    paths = [f"/media/{world.dataset.file.name}",
             "/media/" + str(world.run_succeeded.archive_path.relative_to(world.dataset.path.parent.parent))]
    client.force_login(world.bob)
    for c in (Client(), client):
        for path in paths:
            response = c.get(path)
            assert response.status_code in (302, 404), path
            assert world.archive_bytes not in body_of(response)
            assert b"Hello world" not in body_of(response)
