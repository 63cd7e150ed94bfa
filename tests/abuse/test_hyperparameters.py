"""Out-of-range, non-finite and smuggled hyperparameters: refused with a message, no run
row, nothing on the training queue. Checked at the form (the request) and again at the
service (anything else that creates runs)."""
import math

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.abuse.conftest import make_dataset, make_scratch_base
from tests.factories import make_user


@pytest.fixture
def setup(client, db, media, redis_conn):
    user = make_user("tinkerer")
    client.force_login(user)
    base = make_scratch_base()
    dataset = make_dataset(user, name="mine")
    return user, base, dataset


def training_queue_count():
    import django_rq

    return django_rq.get_queue("training").count


def post_run(client, own_dataset, **fields):
    data = {"dataset": str(own_dataset.code), "base": "base:scratch-tiny", "preset": "quick", **fields}
    return client.post(reverse("training:run_new"), data)


BAD_FIELDS = [
    {"epochs": "nan"}, {"epochs": "NaN"}, {"epochs": "inf"}, {"epochs": "-inf"}, {"epochs": "1e309"},
    {"epochs": "0"}, {"epochs": "-1"}, {"epochs": "21"}, {"epochs": "1,5"}, {"epochs": "一"},
    {"learning_rate": "nan"}, {"learning_rate": "1"}, {"learning_rate": "0"}, {"learning_rate": "-0.001"},
    {"learning_rate": "1e-300"},
    {"batch_size": "0"}, {"batch_size": "65"}, {"batch_size": "1.5"}, {"batch_size": "99999999999999999999999"},
    {"block_size": "8"}, {"block_size": "2048"}, {"block_size": "257"},  # the tiny base allows 256
    {"max_steps": "0"}, {"max_steps": "-5"}, {"max_steps": "100001"}, {"max_steps": "1e5"},
    {"lora": "on"},  # LoRA on a from-scratch base
    {"preset": "turbo"}, {"preset": ""},
    {"base": "base:does-not-exist"}, {"base": "run:00000000-0000-0000-0000-000000000000"}, {"base": "../../etc"},
    {"dataset": "not-a-uuid"},
]


@pytest.mark.parametrize("fields", BAD_FIELDS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_bad_values_are_refused_with_a_message_and_nothing_is_queued(client, setup, fields,
                                                                     django_capture_on_commit_callbacks):
    from training.models import TrainingRun

    _user, _base, dataset = setup
    with django_capture_on_commit_callbacks(execute=True):
        response = post_run(client, dataset, **fields)
    assert response.status_code == 400
    page = response.content.decode()
    assert "field-error" in page or "form-errors" in page, "the student is not told what is wrong"
    assert not TrainingRun.objects.exists()
    assert training_queue_count() == 0


def test_control_good_values_are_queued(client, setup, django_capture_on_commit_callbacks):
    """Without this, the refusals above could come from a form that refuses everything."""
    from training.models import TrainingRun

    _user, _base, dataset = setup
    with django_capture_on_commit_callbacks(execute=True):
        response = post_run(client, dataset, epochs="0.5", learning_rate="0.001", batch_size="4", block_size="64",
                            max_steps="10")
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.hyperparameters["block_size"] == 64 and run.hyperparameters["max_steps"] == 10
    assert training_queue_count() == 1


SERVICE_EXTRAS = [
    {"epochs": float("nan")}, {"epochs": float("inf")}, {"learning_rate": -1.0}, {"batch_size": 10**9},
    {"block_size": 4096}, {"grad_accum": 0}, {"vocab_size": 10}, {"seed": -1}, {"val_fraction": 0.9},
    {"num_threads": 10_000}, {"checkpoint_every_seconds": 0}, {"sample_max_new_tokens": 10**6},
    {"output_dir": "/etc"}, {"data_path": "/etc/passwd"}, {"base_source": "/root"}, {"cache_dir": "/"},
    {"trust_remote_code": True}, {"__class__": "x"}, {"epochs": "1; rm -rf /"}, {"epochs": [1, 2]},
    {"batch_size": True and 1.5},
]


@pytest.mark.parametrize("extra", SERVICE_EXTRAS, ids=lambda e: ",".join(f"{k}={v!r}"[:30] for k, v in e.items()))
def test_the_service_refuses_them_too(setup, extra, django_capture_on_commit_callbacks):
    from training.models import TrainingRun
    from training.services import training_run_create

    user, base, dataset = setup
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ValidationError):
            training_run_create(owner=user, dataset=dataset, base_model=base, preset="quick", extra=extra)
    assert not TrainingRun.objects.exists()
    assert training_queue_count() == 0


def test_a_run_whose_token_budget_is_too_big_is_refused(setup, settings):
    from training.services import run_plan

    user, base, dataset = setup
    settings.TRAINING_MAX_TOKEN_BUDGET = 1000
    with pytest.raises(ValidationError) as refused:
        run_plan(owner=user, dataset=dataset, base_model=base, preset="standard", options={"epochs": 20})
    assert "1,000" in " ".join(refused.value.messages)  # names the limit


def test_stored_hyperparameters_are_always_finite_and_in_bounds(setup):
    from training.services import BOUNDS, hyperparameters_resolve

    resolved = hyperparameters_resolve(preset="quick", options={"epochs": "0.05", "batch_size": 64.0,
                                                               "block_size": "1024", "max_steps": 100000})
    for key, value in resolved.items():
        if key in BOUNDS:
            low, high = BOUNDS[key]
            assert math.isfinite(value) and low <= value <= high, key
    assert isinstance(resolved["batch_size"], int) and isinstance(resolved["block_size"], int)
