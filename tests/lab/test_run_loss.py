"""The loss curve of the student's run and what the lab says about it (lesson 5 exercise)."""
import pytest
from django.urls import reverse
from django.utils import translation

from training.loss_reading import loss_observation, observation_text


def history(train, val, every=1):
    return [{"step": (i + 1) * 10, "train_loss": t, "val_loss": v if i % every == 0 else None}
            for i, (t, v) in enumerate(zip(train, val))]


OVERFIT = history([4.0, 3.0, 2.4, 2.0, 1.6, 1.2], [4.1, 3.2, 2.8, 2.9, 3.1, 3.4])


def test_overfitting_names_the_step_where_validation_turned():
    observation = loss_observation(OVERFIT)
    assert observation == {"code": "overfitting", "params": {"step": 30, "best": 2.8, "last": 3.4, "last_step": 60}}
    with translation.override("en"):
        text = observation_text(observation)
    assert "after step 30" in text and "overfitting" in text


def test_both_rising_is_instability_not_overfitting():
    observation = loss_observation(history([3.0, 2.5, 2.7, 3.2], [3.1, 2.6, 2.9, 3.4]))
    assert observation["code"] == "unstable" and observation["params"]["step"] == 20


def test_still_falling_suggests_more_steps():
    observation = loss_observation(history([4.0, 3.5, 3.1, 2.8], [4.1, 3.6, 3.3, 3.0]))
    assert observation["code"] == "still_falling"
    assert observation["params"] == {"from": 4.1, "last": 3.0, "last_step": 40}


def test_a_flat_end_is_a_plateau():
    observation = loss_observation(history([4.0, 3.0, 2.9, 2.9, 2.9], [4.1, 3.1, 3.01, 3.0, 3.005]))
    assert observation["code"] == "plateau" and observation["params"]["points"] == 3


def test_one_flat_evaluation_after_a_fall_is_not_yet_a_plateau():
    observation = loss_observation(history([4.0, 3.0, 2.9, 2.9], [4.1, 3.1, 3.0, 3.0]))
    assert observation["code"] == "levelling_off"
    with translation.override("en"):
        assert "longer" in observation_text(observation)


def test_a_fall_that_goes_on_says_train_longer():
    # Slowing down is not a plateau: the latest evaluation still improved.
    observation = loss_observation(history([4.0, 3.5, 3.1, 2.8, 2.7], [4.1, 3.6, 3.3, 3.1, 3.05]))
    assert observation["code"] == "still_falling"
    with translation.override("en"):
        assert "train longer" in observation_text(observation)


def test_a_tiny_wobble_is_not_overfitting():
    observation = loss_observation(history([4.0, 3.0, 2.5, 2.4], [4.1, 3.1, 3.0, 3.004]))
    assert observation["code"] == "levelling_off"


def test_validation_points_between_train_points_are_read():
    # Validation is evaluated every other step in real runs.
    observation = loss_observation(history([4, 3.5, 3, 2.6, 2.2, 1.8, 1.5], [4.1, 0, 3.0, 0, 3.3, 0, 3.6], every=2))
    assert observation["code"] == "overfitting" and observation["params"]["step"] == 30


def test_too_few_points():
    assert loss_observation([])["code"] == "too_few_points"
    assert loss_observation(history([3.0, 2.0], [3.1, None]))["code"] == "too_few_points"


def test_every_observation_reads_in_japanese():
    for case in (OVERFIT, history([3, 2.5, 2.7, 3.2], [3.1, 2.6, 2.9, 3.4]), history([4, 3], [4, 3]),
                 history([3, 3], [3, 3]), history([3, 3, 3], [3, 3, 3]), []):
        observation = loss_observation(case)
        with translation.override("ja"):
            japanese = observation_text(observation)
        with translation.override("en"):
            english = observation_text(observation)
        assert japanese != english and any("\u3040" <= c <= "\u30ff" for c in japanese)


def test_api_reads_the_students_latest_run(client, alice, make_lab_run, demo_run):
    from training.models import TrainingRun

    make_lab_run(alice, name="old", history=history([3, 2], [3, 2]))
    latest = make_lab_run(alice, status=TrainingRun.RUNNING, name="now", history=OVERFIT)
    make_lab_run(alice, status=TrainingRun.QUEUED, name="queued", active_slot=1)  # no curve yet: skipped
    client.force_login(alice)
    data = client.get(reverse("lab:api_my_run_loss")).json()
    assert data["run"]["code"] == str(latest.code) and data["run"]["is_own"] and data["run"]["status"] == "running"
    assert data["run"]["url"] == reverse("training:run_detail", args=[latest.code])
    assert [p["step"] for p in data["history"]] == [10, 20, 30, 40, 50, 60]
    assert data["observation"]["code"] == "overfitting" and "30" in data["observation"]["text"]


def test_api_reads_a_chosen_own_run(alice_client, alice, make_lab_run):
    chosen = make_lab_run(alice, name="chosen", history=history([4, 3.5, 3.1], [4.1, 3.6, 3.3]))
    make_lab_run(alice, name="latest", history=OVERFIT)
    data = alice_client.get(reverse("lab:api_my_run_loss"), {"run": str(chosen.code)}).json()
    assert data["run"]["name"] == "chosen" and data["observation"]["code"] == "still_falling"


def test_without_a_run_the_demo_curve_is_shown_and_marked(client, bob, make_lab_run, dave):
    make_lab_run(dave, is_demo=True, history=OVERFIT)
    client.force_login(bob)
    data = client.get(reverse("lab:api_my_run_loss")).json()
    assert data["run"]["is_demo"] and not data["run"]["is_own"] and "url" not in data["run"]
    assert data["observation"]["code"] == "overfitting"


def test_without_any_run_there_is_nothing_to_read(alice_client):
    data = alice_client.get(reverse("lab:api_my_run_loss")).json()
    assert data["run"] is None and data["observation"] is None
    assert data["new_run_url"].endswith("?preset=quick")


@pytest.mark.parametrize("code", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_runs_are_404(alice_client, code):
    assert alice_client.get(reverse("lab:api_my_run_loss"), {"run": code}).status_code == 404


def test_api_gives_bits_per_character(client, alice, make_lab_run):
    points = [{"step": 10, "train_loss": 4.0, "val_loss": 4.1, "val_bpc": 5.2},
              {"step": 20, "train_loss": 3.0, "val_loss": 3.1, "val_bpc": 3.9}]
    make_lab_run(alice, name="bpc", history=points)
    client.force_login(alice)
    data = client.get(reverse("lab:api_my_run_loss")).json()
    assert data["bpc"] == {"first": 5.2, "last": 3.9, "best": 3.9}
    assert [p["val_bpc"] for p in data["history"]] == [5.2, 3.9]


def test_api_gives_the_learning_rate_of_every_point(client, alice, make_lab_run):
    # The trainer records the scheduler's rate in every history point; lesson 8's widget draws it.
    points = [{"step": 5, "train_loss": 4.0, "val_loss": None, "lr": 5e-5},
              {"step": 10, "train_loss": 3.0, "val_loss": 3.1, "lr": 4.9e-5},
              {"step": 15, "train_loss": 2.9, "val_loss": None}]
    make_lab_run(alice, name="lr", history=points)
    client.force_login(alice)
    data = client.get(reverse("lab:api_my_run_loss")).json()
    assert [p["lr"] for p in data["history"]] == [5e-5, 4.9e-5, None]


def test_an_instruction_runs_curve_is_named_as_its_loss_is_measured(alice_client, alice, make_lab_run):
    """An instruction run's held-out loss counts answers only: the lab names it so, as the run's
    progress page does, in both languages."""
    from training.models import TrainingRun

    observation = loss_observation(OVERFIT)
    with translation.override("en"):
        assert observation_text(observation, instruction=True).startswith("Held-out loss on answers rose")
        assert observation_text(observation).startswith("Validation loss rose")
    with translation.override("ja"):
        assert "取っておいた会話の答えの損失はステップ 30" in observation_text(observation, instruction=True)
        assert "検証損失はステップ 30" in observation_text(observation)
    chat = make_lab_run(alice, name="tutor", history=OVERFIT, task=TrainingRun.INSTRUCTION_TASK)
    data = alice_client.get(reverse("lab:api_my_run_loss"), {"run": str(chat.code)}).json()
    assert data["run"]["is_instruction"] and "取っておいた会話の答えの損失は" in data["observation"]["text"]
    text = make_lab_run(alice, name="diary", history=OVERFIT)
    data = alice_client.get(reverse("lab:api_my_run_loss"), {"run": str(text.code)}).json()
    assert not data["run"]["is_instruction"] and "検証損失は" in data["observation"]["text"]
