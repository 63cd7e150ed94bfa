"""The global queue cap cannot be filled by accounts signed up from one address: queued runs
are capped per sign-up address (TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS), so a real student from
elsewhere can still queue a run after a script created 51 accounts and queued a run with each."""
import pytest
from django.test import Client
from django.urls import reverse

from tests.abuse.conftest import make_dataset, make_scratch_base
from tests.factories import PASSWORD, make_user
from training.models import TrainingRun

pytestmark = pytest.mark.django_db
SCRIPT, STUDENT = "203.0.113.7", "198.51.100.30"


@pytest.fixture
def sample(media):
    make_scratch_base()
    dataset = make_dataset(make_user("teacher", instructor=True), name="shared sample")
    dataset.is_sample = dataset.published = True
    dataset.save()
    return dataset


def sign_up_and_queue(name, ip, sample):
    client = Client(REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE="en")
    signed = client.post(reverse("signup"), {"username": name, "email": f"{name}@example.com",
                                             "preferred_language": "en", "password1": PASSWORD,
                                             "password2": PASSWORD})
    if signed.status_code != 302:
        return signed
    return client.post(reverse("training:run_new"), {"dataset": str(sample.code), "base": "base:scratch-tiny",
                                                     "preset": "quick"})


def test_fifty_one_accounts_from_one_address_cannot_fill_the_queue(settings, sample):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 0  # the sign-up throttle off: the queue's own rule is tested here
    per_address, cap = settings.TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS, settings.TRAINING_MAX_QUEUED_RUNS
    assert per_address < cap
    answers = [sign_up_and_queue(f"bot{number}", SCRIPT, sample) for number in range(51)]
    assert [answer.status_code for answer in answers] == [302] * per_address + [400] * (51 - per_address)
    assert "Many runs from your network are already waiting" in answers[-1].content.decode()
    assert TrainingRun.objects.filter(status=TrainingRun.QUEUED).count() == per_address

    response = sign_up_and_queue("hanako", STUDENT, sample)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert TrainingRun.objects.filter(owner__username="hanako", status=TrainingRun.QUEUED).exists()


def test_with_the_default_settings_the_sign_up_throttle_stops_the_script_first(settings, sample):
    answers = [sign_up_and_queue(f"bot{number}", SCRIPT, sample).status_code for number in range(51)]
    assert 429 in answers
    assert TrainingRun.objects.filter(status=TrainingRun.QUEUED).count() <= settings.TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS
    assert sign_up_and_queue("hanako", STUDENT, sample).status_code == 302


def test_accounts_without_a_recorded_address_only_meet_the_global_cap(settings, sample, alice):
    """Accounts made in the admin or before addresses were recorded have no sign-up address."""
    settings.TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS = 1
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("training:run_new"), {"dataset": str(sample.code), "base": "base:scratch-tiny",
                                                          "preset": "quick"})
    assert response.status_code == 302
