"""The site's demo model (issue #13): `seed_demo_model` (run by `bootstrap`) queues, once, a
quick from-scratch run on the sample corpora that becomes the demo when it succeeds; until
then the lab tells a new student it is still training. Tests pay for training only where
they ask for it (the last test, with a real worker)."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import wait_for
from tests.factories import FAST, make_finished_run, make_user
from training import conf, lifecycle
from training.models import TrainingRun


def seed_demo(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo_model", stdout=out, **options)
    return out.getvalue()


def demo_runs():
    return TrainingRun.objects.filter(owner__username=conf.DEMO_USERNAME)


@pytest.fixture
def demo_on(settings):
    settings.DEMO_MODEL_SEED = True
    return settings


def test_the_test_settings_seed_no_demo_run(db, bases):
    assert "skipped (DEMO_MODEL_SEED is off)" in seed_demo()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_it_queues_one_demo_run_and_not_again(demo_on, bases):
    assert "queued" in seed_demo()
    run = demo_runs().get()
    assert run.status == TrainingRun.QUEUED and run.base_model.key == "tiny" and run.preset == "quick"
    assert run.dataset.owner == run.owner and not run.owner.has_usable_password()
    text = run.dataset.path.read_text(encoding="utf-8")
    assert "今日の一句" in text and "shanty" in text.lower()  # both sample corpora, so English and Japanese
    assert "already queued or training" in seed_demo()
    assert demo_runs().count() == 1
    # A failed demo run is queued again by the next bootstrap.
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.FAILED, active_slot=None)
    assert "queued" in seed_demo()
    assert demo_runs().filter(status=TrainingRun.QUEUED).count() == 1


@pytest.mark.django_db
def test_a_succeeded_demo_run_becomes_the_demo_but_never_replaces_an_instructors_choice(demo_on, bases, alice):
    seed_demo()
    run = demo_runs().get()
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.SUCCEEDED, active_slot=None)
    assert lifecycle.run_adopt_demo(run_id=run.pk)
    assert TrainingRun.objects.get(is_demo=True) == run
    assert "has a demo model" in seed_demo()
    # An instructor's demo is kept: another demo-account run is not adopted over it.
    TrainingRun.objects.filter(pk=run.pk).update(is_demo=False)
    chosen = make_finished_run(alice, run.dataset, archive=False)
    TrainingRun.objects.filter(pk=chosen.pk).update(is_demo=True)
    assert not lifecycle.run_adopt_demo(run_id=run.pk)
    # Nor does a student's run, even a succeeded one.
    TrainingRun.objects.filter(pk=chosen.pk).update(is_demo=False)
    assert not lifecycle.run_adopt_demo(run_id=chosen.pk)


@pytest.mark.django_db
def test_a_person_holding_the_demo_name_gets_nothing(demo_on, bases):
    make_user(conf.DEMO_USERNAME)  # signed up before the site was bootstrapped: has a password
    assert "nothing queued" in seed_demo()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_the_lab_tells_a_new_student_the_demo_is_still_training(demo_on, bases, client):
    seed_demo()
    student = make_user("newcomer", preferred_language="en")
    client.force_login(student)
    models = client.get(reverse("lab:api_models")).json()
    assert models["models"] == [] and models["demo_training"]["minutes"] >= 1
    page = client.get(reverse("lab:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "demo model is still training: it is ready in about" in page
    answer = client.post(reverse("lab:api_next_token"), {"prompt": "The captain"})
    assert answer.status_code == 404 and "still training" in answer.json()["error"]["message"]
    student.preferred_language = "ja"
    student.save()
    page = client.get(reverse("lab:index")).content.decode()
    assert "デモモデルはまだ学習中" in page


@pytest.mark.slow
def test_a_real_worker_trains_the_demo_and_a_new_student_gets_it(demo_on, bases, start_worker, client):
    demo_on.TRAINING_EXTRA_HYPERPARAMETERS = {**FAST, "max_steps": 8}
    seed_demo()
    run = demo_runs().get()
    worker = start_worker("training")
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, is_demo=True).exists(), timeout=300,
             message="the demo run to finish and become the demo")
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.SUCCEEDED, worker.output()
    student = get_user_model().objects.create_user("newcomer", password="x-long-password-1")
    client.force_login(student)
    models = client.get(reverse("lab:api_models")).json()
    assert [m["code"] for m in models["models"]] == [str(run.code)] and models["models"][0]["is_demo"]
    assert models["demo_training"] is None
    assert "has a demo model" in seed_demo()
