"""Run log lines are stored as codes with parameters and shown in the reader's language: on the
progress fragment, in the progress JSON and in the admin. Old string lines still show; a code
the catalogue does not know shows its English message."""
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from training import lifecycle, logtext, run_config, services
from training.models import TrainingRun
from training.reasons import run_failure

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def new_run(alice, corpus, bases, **fields):
    run = services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    TrainingRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def english(line) -> str:
    with translation.override("en"):
        return logtext.line_text(line)


def test_the_progress_fragment_json_and_admin_show_the_log_in_the_viewers_language(alice, alice_client, corpus,
                                                                                  bases, admin_client):
    lines = ["12:00:00 An old line, kept as it was.",
             logtext.entry("eval", {"step": 1200, "total_steps": 2400, "train_loss": 3.2, "val_loss": 3.45678,
                                    "val_bpc": 1.98765}),
             {"t": "2025-01-01T00:00:00+00:00", "code": "something_new", "params": {"x": 1},
              "message": "Something new happened."}]
    run = new_run(alice, corpus, bases, status="running", log_lines=lines)
    url = reverse("training:run_progress", args=[run.code])
    en = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Step 1,200/2,400: training loss 3.2000, validation loss 3.4568 (1.988 bits per character)." in en
    assert "12:00:00 An old line, kept as it was." in en and "Something new happened." in en
    alice.preferred_language = "ja"
    alice.save()
    ja = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "ステップ 1,200/2,400：訓練損失 3.2000、検証損失 3.4568（1 文字あたり 1.988 ビット）。" in ja
    assert "12:00:00 An old line, kept as it was." in ja and "Something new happened." in ja
    data = alice_client.get(url + "?format=json", HTTP_ACCEPT_LANGUAGE="ja").json()
    assert any("訓練損失 3.2000" in line for line in data["log_lines"])
    admin_page = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk]),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "検証損失 3.4568" in admin_page and "An old line, kept as it was." in admin_page


EVAL = {"step": 1200, "total_steps": 2400, "train_loss": 3.2, "val_loss": 3.45678, "val_bpc": 1.98765}


def test_an_instruction_runs_log_speaks_of_held_out_answers(alice, alice_client, corpus, bases, admin_client):
    """The engine writes the same codes for both tasks; an instruction run's lines say its loss is
    measured on held-out answers (a text run's keep 'validation loss')."""
    lines = [logtext.entry("eval", EVAL),
             logtext.entry("done", {"base_val_loss": 6.0, "val_loss": 2.5, "base_val_bpc": 3.1, "val_bpc": 1.2}),
             logtext.entry("cancelled")]
    chat = new_run(alice, corpus, bases, status="cancelled", log_lines=lines, task=TrainingRun.INSTRUCTION_TASK)
    text = new_run(alice, corpus, bases, status="running", log_lines=lines)
    url = reverse("training:run_progress", args=[chat.code])
    en = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Step 1,200/2,400: training loss 3.2000, loss on held-out answers 3.4568 (1.988 bits per character)." in en
    assert "Done: loss on held-out answers 6.0000 → 2.5000" in en and "validation loss" not in en
    assert " Cancelled." in en  # a code with no instruction wording keeps its line
    data = alice_client.get(url + "?format=json").json()
    assert any("loss on held-out answers 3.4568" in line for line in data["log_lines"])
    admin_page = admin_client.get(reverse("admin:training_trainingrun_change", args=[chat.pk]),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "取っておいた会話の答えの損失 3.4568" in admin_page and "検証損失 3.4568" not in admin_page
    alice.preferred_language = "ja"
    alice.save()
    ja = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "訓練損失 3.2000、取っておいた会話の答えの損失 3.4568" in ja and "検証損失" not in ja
    ja_text = alice_client.get(reverse("training:run_progress", args=[text.code]),
                               HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "検証損失 3.4568" in ja_text and "取っておいた会話の答えの損失 3.4568" not in ja_text


def test_every_instruction_line_has_the_text_lines_code_and_parameters():
    params = re.compile(r"%\(([a-z_]+)\)s")
    assert set(logtext.INSTRUCTION_LINES) <= set(logtext.LINES)
    for code, line in logtext.INSTRUCTION_LINES.items():
        assert set(params.findall(str(line))) == set(params.findall(str(logtext.LINES[code]))), code
        assert "validation" not in str(line) and "the text" not in str(line), code
    assert logtext.say("eval", EVAL, instruction=False) == logtext.say("eval", EVAL)


def test_a_line_shows_the_time_it_was_made_in_local_time(settings):
    line = {"t": "2025-01-01T03:04:05+00:00", "code": "cancelled", "params": {}}
    settings.TIME_ZONE = "Asia/Tokyo"
    assert english(line) == "12:04:05 Cancelled."


def test_a_broken_line_falls_back_to_its_message_or_code():
    assert english({"code": "eval", "params": {}, "message": "Step 3/4."}) == "Step 3/4."
    assert english({"code": "unknown"}) == "unknown"


def test_cancel_failure_and_retry_lines_carry_codes(alice, corpus, bases, settings):
    settings.TRAINING_MAX_ATTEMPTS = 3
    run = new_run(alice, corpus, bases, status="running", checkpoint_step=7)
    assert lifecycle.run_retry_or_fail(run_id=run.pk, attempt=1, reason="worker_lost") == "retried"
    run.refresh_from_db()
    assert run.log_lines[-1]["code"] == "retry"
    assert english(run.log_lines[-1]).endswith(
        "Worker lost; resuming from the last checkpoint (step 7), attempt 2 of 3.")
    TrainingRun.objects.filter(pk=run.pk).update(status="running")
    assert lifecycle.run_fail(run_id=run.pk, attempt=2, code="out_of_memory")
    run.refresh_from_db()
    assert (run.log_lines[-1]["code"], run.log_lines[-1]["params"]) == ("failed", {"reason": "out_of_memory"})
    with translation.override("ja"):
        title = str(run_failure("out_of_memory")[0])
        assert logtext.line_text(run.log_lines[-1]).endswith(f"失敗：{title}。") and title != "Out of memory"
    other = new_run(alice, corpus, bases, status="running")
    assert lifecycle.run_mark_cancelled(run_id=other.pk, attempt=1)
    other.refresh_from_db()
    assert other.log_lines[-1]["code"] == "cancelled" and english(other.log_lines[-1]).endswith(" Cancelled.")
    # Queued again by an instructor: a new attempt, said in the log.
    assert lifecycle.run_requeue(run_id=other.pk, attempt=1, status="cancelled", slot=1)
    other.refresh_from_db()
    assert (other.status, other.attempt, other.log_lines[-1]["params"]) == ("queued", 2, {"attempt": 2})
    assert english(other.log_lines[-1]).endswith("Queued again as attempt 2; it resumes from its newest checkpoint.")
    assert not lifecycle.run_requeue(run_id=other.pk, attempt=1, status="cancelled", slot=1)  # fenced


PLANS = [
    {"limited_by": "budget", "calibrated": True},
    {"limited_by": "budget", "calibrated": False},
    {"limited_by": "epoch_cap", "calibrated": True, "max_epochs": 3.5, "budget_steps": 900},
    {"limited_by": "epoch_cap", "calibrated": False, "max_epochs": 3.5, "budget_steps": 900},
    {"limited_by": "epochs"},
    {"limited_by": "max_steps"},
]


@pytest.mark.parametrize("plan", PLANS)
def test_every_plan_line_renders_in_both_languages(plan):
    code, params = run_config.plan_description({"steps": 300, "tokens_per_step": 1024, "epochs": 3.2, "preset": "quick",
                                          "budget_seconds": 60, "tokens_per_second": 9000.4, **plan})
    for language in ("en", "ja"):
        for instruction in (False, True):
            with translation.override(language):
                text = logtext.say(code, params, instruction=instruction)
            assert not logtext.LEFTOVER.search(text) and "300" in text and "None" not in text, text
            if language == "en":
                assert ("passes over the conversations" in text) == instruction, text
                assert ("passes over the text" in text) != instruction, text
            else:
                assert ("会話を約 3.2 回" in text) == instruction, text
    assert run_config.plan_description({}) is None


def test_every_code_in_the_source_has_a_line_and_every_line_a_code():
    """Codes the job, the lifecycle and the engine write (the engine's are also checked in
    real runs by tests/engine/test_log_codes.py) are all in the catalogue, and it holds no other."""
    sources = [ROOT / "training" / name for name in ("jobs.py", "progress.py", "run_config.py", "lifecycle.py",
                                                     "reconciler.py", "engine/trainer.py")]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    engine = (ROOT / "training" / "engine" / "trainer.py").read_text(encoding="utf-8")
    used = set(re.findall(r'(?:entry|\.log)\(\s*"([a-z_0-9]+)"', text))
    used |= set(re.findall(r'Progress\("[a-z]+".*?code="([a-z_0-9]+)"', engine, re.S))
    used |= {"start", "start_bf16"} | {f"plan_{kind}" for kind in
                                       ("budget_measured", "budget_guessed", "epoch_cap_measured",
                                        "epoch_cap_guessed", "epochs", "max_steps")}
    assert used - set(logtext.LINES) == set()
    assert set(logtext.LINES) - used == set()


@pytest.mark.parametrize("share, language", [(None, "en"), (0.0, "en"), (0.09, "en"), (0.1, "both"),
                                             (0.5, "both"), (0.51, "ja"), (1.0, "ja")])
def test_the_card_language_follows_the_share_of_japanese(share, language):
    assert run_config.card_language(share) == language


@pytest.mark.parametrize("share, language", [(0.9, "ja"), (0.02, "en"), (0.3, "both")])
def test_the_engine_is_told_the_runs_language(alice, corpus, bases, share, language, tmp_path):
    corpus.report = {**corpus.report, "japanese_share": share}
    corpus.save()
    run = new_run(alice, corpus, bases)
    assert run_config.engine_config(run, tmp_path).card_language == language
