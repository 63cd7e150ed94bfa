"""Who may use which model: owner scoping, the demo run, logged-out visitors, methods."""
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.lab.conftest import error_of

APIS = ["lab:api_models", "lab:api_tokenize", "lab:api_next_token", "lab:api_attention", "lab:api_my_run_loss"]
# The APIs that send text take POST (a long Japanese text passes the web server's URL limit); the others GET.
METHODS = {"lab:api_models": "GET", "lab:api_tokenize": "POST", "lab:api_next_token": "POST",
           "lab:api_attention": "POST", "lab:api_my_run_loss": "GET"}


def test_models_lists_own_runs_first_then_the_demo(alice_client, alice, make_lab_run, demo_run):
    older = make_lab_run(alice, name="older")
    newer = make_lab_run(alice, name="newer")
    data = alice_client.get(reverse("lab:api_models")).json()
    assert [m["code"] for m in data["models"]] == [str(newer.code), str(older.code), str(demo_run.code)]
    assert data["default"] == str(newer.code)
    assert data["models"][0]["is_own"] and not data["models"][0]["is_demo"]
    assert data["models"][-1]["is_demo"] and not data["models"][-1]["is_own"]
    assert data["models"][0]["architecture"]["n_layer"] == 2
    assert data["new_run_url"] == reverse("training:run_new") + "?preset=quick"


def test_models_never_lists_another_students_or_unfinished_runs(client, bob, alice_run, make_lab_run, alice, demo_run):
    from training.models import TrainingRun

    make_lab_run(alice, status=TrainingRun.FAILED)
    make_lab_run(bob, status=TrainingRun.RUNNING)
    client.force_login(bob)
    data = client.get(reverse("lab:api_models")).json()
    assert [m["code"] for m in data["models"]] == [str(demo_run.code)]


@pytest.mark.parametrize("name", ["lab:api_tokenize", "lab:api_next_token", "lab:api_attention"])
def test_another_students_run_is_404(client, bob, alice_run, name):
    client.force_login(bob)
    response = client.post(reverse(name), {"model": str(alice_run.code), "text": "hello", "prompt": "hello"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert b"alice-model" not in response.content


def test_another_students_loss_curve_is_404(client, bob, make_lab_run, alice):
    run = make_lab_run(alice, name="alice-model", history=[{"step": 1, "train_loss": 3.0, "val_loss": 3.1}])
    client.force_login(bob)
    response = client.get(reverse("lab:api_my_run_loss"), {"run": str(run.code)})
    assert response.status_code == 404
    assert b"alice-model" not in response.content


@pytest.mark.parametrize("name", ["lab:api_tokenize", "lab:api_next_token", "lab:api_attention"])
def test_the_demo_run_is_open_to_every_student(client, bob, demo_run, name):
    client.force_login(bob)
    response = client.post(reverse(name), {"model": str(demo_run.code), "text": "hello", "prompt": "hello"})
    assert response.status_code == 200, response.content


def test_unknown_or_malformed_codes_are_404(alice_client, alice_run):
    for code in (str(uuid.uuid4()), "not-a-uuid", "1"):
        response = alice_client.post(reverse("lab:api_next_token"), {"model": code, "prompt": "a"})
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


def test_an_unfinished_own_run_cannot_be_opened(alice_client, alice, make_lab_run):
    from training.models import TrainingRun

    run = make_lab_run(alice, status=TrainingRun.RUNNING)
    assert alice_client.post(reverse("lab:api_attention"), {"model": str(run.code), "text": "a"}).status_code == 404


def test_a_run_whose_files_are_gone_says_so(alice_client, alice_run):
    (alice_run.attempt_dir(1) / "export").unlink()
    response = alice_client.post(reverse("lab:api_next_token"), {"model": str(alice_run.code), "prompt": "a"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "model_missing"


def test_without_any_model_next_token_points_to_the_quick_run_form(alice_client):
    response = alice_client.post(reverse("lab:api_next_token"), {"prompt": "a"})
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "no_model"
    assert error["params"]["new_run_url"].endswith("?preset=quick")


@pytest.mark.parametrize("name", APIS)
def test_logged_out_visitors_get_a_json_401(db, name):
    response = Client().generic(METHODS[name], reverse(name))
    assert response.status_code == 401
    assert error_of(response)["code"] == "login_required"


@pytest.mark.parametrize("name", APIS)
def test_only_the_apis_method_is_accepted(alice_client, name):
    response = alice_client.generic("GET" if METHODS[name] == "POST" else "POST", reverse(name))
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize("name", ["lab:api_tokenize", "lab:api_next_token", "lab:api_attention"])
def test_text_apis_need_the_csrf_token(alice, demo_run, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse(name), {"model": str(demo_run.code), "text": "a", "prompt": "a"}).status_code == 403


def test_answers_are_not_cached(alice_client):
    response = alice_client.get(reverse("lab:api_models"))
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
