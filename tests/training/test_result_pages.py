"""What the result, progress and compare pages say about a run: before and after with the loss
curve, bits per character, what the tokenizer learned, an overfitting warning that follows the
curve, settings named for people, failures without technical detail, the student's own sample
prompts, and a playground that opens on a prompt in the text's language, answers field errors
inside the htmx box, shows one max-new-tokens limit and the seed of each answer."""
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.factories import make_checked_dataset, make_finished_run
from training import services
from training.models import TrainingRun

TOKENIZER = {"vocab_size": 733, "byte_fallback": True, "tokens_per_char": 0.6123,
             "longest_tokens": ["図書館", " captain", "夕飯に"]}


def finished(owner, dataset, **metrics):
    run = make_finished_run(owner, dataset, archive=False)
    values = {**run.metrics, "base_val_bpc": 7.912, "val_bpc": 2.345, "data": {"tokenizer": TOKENIZER}, **metrics}
    TrainingRun.objects.filter(pk=run.pk).update(metrics=values)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("language, words", [
    ("en", ["Bits per character", "What the tokenizer learned from your text", "733 tokens"]),
    ("ja", ["1 文字あたりのビット数", "トークナイザーがあなたのテキストから学んだこと", "733 トークン"]),
])
def test_the_result_page_shows_bits_per_character_and_the_tokenizer(alice_client, alice, corpus, language, words):
    alice.preferred_language = language
    alice.save()
    run = finished(alice, corpus)
    html = alice_client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert [word for word in words if word not in html] == []
    row = html.split('class="bpc-row"')[1].split("</tr>")[0]
    assert "7.912" in row and "2.345" in row
    assert "0.61" in html and all(f"<code class=\"token-chip\">{t}</code>" in html for t in TOKENIZER["longest_tokens"])


def test_a_pretrained_run_has_no_tokenizer_section(alice_client, alice, corpus):
    run = finished(alice, corpus, data={})
    html = alice_client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE="en").content
    assert b"What the tokenizer learned" not in html and b"Bits per character" in html


def test_the_progress_page_shows_the_latest_bits_per_character(alice_client, alice, corpus):
    history = [{"step": 5, "train_loss": 5.0, "val_loss": 5.2, "val_bpc": 6.5},
               {"step": 7, "train_loss": 4.8},
               {"step": 10, "train_loss": 4.0, "val_loss": 4.1, "val_bpc": 5.125}]
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running", step=10, total_steps=20,
                                     history=history)
    fragment = alice_client.get(reverse("training:run_progress", args=[run.code])).content.decode()
    assert '<dd data-field="val-bpc">5.125</dd>' in fragment
    data = alice_client.get(reverse("training:run_progress", args=[run.code]) + "?format=json").json()
    assert data["val_bpc"] == 5.125


def test_compare_shows_bits_per_character_and_warns_about_different_datasets(alice_client, alice, corpus):
    from tests.factories import make_text, upload

    a = finished(alice, corpus, val_bpc=2.0)
    b = finished(alice, corpus, val_bpc=3.0)
    url = reverse("training:compare")
    html = alice_client.get(url + f"?a={a.code}&b={b.code}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = html.split('class="bpc-row"')[1].split("</tr>")[0]
    assert "2.000" in row and "3.000" in row
    assert "different datasets" not in html and "tokenizers differ" in html
    other = make_checked_dataset(alice, upload(content=make_text(240, seed=9).encode()))
    TrainingRun.objects.filter(pk=b.pk).update(dataset=other)
    html = alice_client.get(url + f"?a={a.code}&b={b.code}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "different datasets" in html


# Before and after, the curve, failures and settings ----------------------------------------

def test_result_page_shows_before_after_and_the_chart(alice_client, alice, corpus):
    run = make_finished_run(alice, corpus)
    page = alice_client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "6.000" in html and "4.000" in html and "54.6" in html
    assert "<polyline" in html and "upon" in html and "Playground" in html
    assert "hx-trigger" not in html


def test_compare_two_runs(alice_client, alice, corpus):
    a, b = make_finished_run(alice, corpus, archive=False), make_finished_run(alice, corpus, archive=False)
    page = alice_client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200 and "Side by side" in html and html.count("<polyline") == 2
    assert "Held-out loss on answers" not in html
    # Two instruction runs: their held-out loss counts answers only, and the table and legend say so.
    TrainingRun.objects.filter(pk__in=[a.pk, b.pk]).update(task=TrainingRun.INSTRUCTION_TASK)
    html = alice_client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}",
                            HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<th scope="row">Held-out loss on answers</th>' in html
    assert "A · Held-out loss on answers" in html and "B · Held-out loss on answers" in html


def test_students_never_see_technical_detail(alice_client, alice, corpus):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="failed", error_code="out_of_memory",
                                     error_detail="Traceback (most recent call last): secret")
    html = alice_client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Out of memory" in html and "smaller batch size" in html and "secret" not in html


def test_overfitting_warning_follows_the_curve_not_the_sticky_flag(alice, corpus, client):
    client.force_login(alice)
    wobble = [{"step": 2, "train_loss": 6.0, "val_loss": 5.1}, {"step": 4, "train_loss": 5.0, "val_loss": 5.5},
              {"step": 6, "train_loss": 4.5, "val_loss": 4.4}, {"step": 8, "train_loss": 4.4, "val_loss": 4.39}]
    recovered = make_finished_run(alice, corpus, archive=False)
    TrainingRun.objects.filter(pk=recovered.pk).update(overfitting=True, history=wobble)
    page = client.get(reverse("training:run_detail", args=[recovered.code])).content.decode()
    assert "Overfitting warning" not in page  # the best validation loss is the last one
    rising = wobble[:3] + [{"step": 8, "train_loss": 3.0, "val_loss": 5.0}]
    TrainingRun.objects.filter(pk=recovered.pk).update(history=rising)
    page = client.get(reverse("training:run_detail", args=[recovered.code])).content.decode()
    assert "Overfitting warning" in page


def test_run_settings_are_named_for_people(alice, corpus, client):
    client.force_login(alice)
    a, b = make_finished_run(alice, corpus, archive=False), make_finished_run(alice, corpus, archive=False)
    TrainingRun.objects.filter(pk=a.pk).update(hyperparameters={"epochs": 1.0, "grad_accum": 1, "odd_knob": 3})
    TrainingRun.objects.filter(pk=b.pk).update(hyperparameters={"epochs": 3.0, "grad_accum": 2})
    page = client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}").content.decode()
    assert "Gradient accumulation steps" in page and "Epochs" in page and "grad_accum" not in page
    assert "odd_knob" in page  # a setting without a name keeps its key
    detail = client.get(reverse("training:run_detail", args=[a.code])).content.decode()
    assert "Gradient accumulation steps" in detail and "grad_accum" not in detail


def test_a_run_that_has_not_counted_its_steps_shows_a_dash(alice, corpus, client):
    client.force_login(alice)
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="queued")
    page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
    assert '<dd data-field="step">—</dd>' in page and "0 / 0" not in page
    TrainingRun.objects.filter(pk=run.pk).update(status="running", step=3, total_steps=16)
    page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
    assert '<dd data-field="step">3 / 16</dd>' in page

def test_compare_shows_each_runs_own_samples_when_they_share_no_prompt(alice_client, alice, corpus):
    """Prompts come from each run's own text: two runs on different texts share none, and the
    page must show both runs' samples rather than A's next to an empty B."""
    a, b = finished(alice, corpus), finished(alice, corpus)
    TrainingRun.objects.filter(pk=a.pk).update(samples=[{"prompt": "今日の一句", "base": "x", "tuned": "　雨"}])
    TrainingRun.objects.filter(pk=b.pk).update(
        samples=[{"prompt": "Day 3 aboard", "base": "x", "tuned": " the Salt Magpie"},
                 {"prompt": "Shanty:", "base": "x", "tuned": " haul away"}],
        hyperparameters={"max_train_seconds": 90})
    html = alice_client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}",
                            HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "no prompt in common" in html and "Samples for the same prompts" not in html
    assert all(text in html for text in ["　雨", " the Salt Magpie", "Shanty:<mark> haul away</mark>"])
    assert "Time limit of the training steps (seconds)" in html and "max_train_seconds" not in html


def test_compare_pairs_samples_by_prompt_when_the_runs_share_prompts(alice_client, alice, corpus):
    a, b = finished(alice, corpus), finished(alice, corpus)
    html = alice_client.get(reverse("training:compare") + f"?a={a.code}&b={b.code}",
                            HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Samples for the same prompts" in html and html.count("Once<mark> upon</mark>") == 2


@pytest.mark.parametrize("step, total, title, eta", [
    (0, 0, "Getting ready…", "3 min 20 s"),  # before the first step: the plan's estimate
    (7, 20, "Training", "3 min 20 s"),
    (20, 20, "Finishing…", "—"),  # steps done, samples and export still running: no countdown
])
def test_the_progress_page_names_the_phase_of_a_running_run(alice_client, alice, corpus, step, total, title, eta):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running", step=step, total_steps=total,
                                     eta_seconds=200)
    fragment = alice_client.get(reverse("training:run_progress", args=[run.code]),
                                HTTP_ACCEPT_LANGUAGE="en").content.decode()
    heading = fragment.split("<h2>")[1].split("</h2>")[0]
    assert title in heading
    assert f'<dd data-field="eta">{eta}</dd>' in fragment


# Sample prompts ------------------------------------------------------------------------------

def test_students_add_their_own_sample_prompts(alice_client, alice, corpus, redis_conn):
    response = alice_client.post(reverse("training:run_new"), {
        "dataset": corpus.code, "base": "base:tiny", "preset": "quick",
        "sample_prompts": "The captain said\r\n\r\n  今日の一句  \nThe captain said\n"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert TrainingRun.objects.get().hyperparameters["sample_prompts"] == ["The captain said", "今日の一句"]


@pytest.mark.parametrize("prompts, message", [
    ("a\nb\nc\nd", "at most 3 prompts"),
    ("x" * 101, "at most 100 characters"),
    ("bell\x07", "control characters"),
])
def test_sample_prompts_are_bounded(alice_client, corpus, redis_conn, prompts, message):
    response = alice_client.post(reverse("training:run_new"), {
        "dataset": corpus.code, "base": "base:tiny", "preset": "quick", "sample_prompts": prompts},
        HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and message in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_service_checks_prompts_without_the_form():
    assert services.sample_prompts_clean(["a", " b "]) == ["a", "b"]
    for bad in (["x"] * 4, [1, 2], "y" * 200, {"a": 1}):
        with pytest.raises(ValidationError):
            services.sample_prompts_clean(bad)


# Playground ----------------------------------------------------------------------------------

@pytest.fixture
def playable(alice, corpus, tiny_base_dir, inference_worker):
    """A finished run whose export is the tiny local GPT-2 (64 positions)."""
    run = make_finished_run(alice, corpus)
    (run.attempt_dir(1) / "export").symlink_to(tiny_base_dir, target_is_directory=True)
    return run


def post(client, run, **values):
    data = {"prompt": "the ship", "temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 12, **values}
    return client.post(reverse("training:run_playground", args=[run.code]), data, HTTP_HX_REQUEST="true",
                       HTTP_ACCEPT_LANGUAGE="en").content.decode()


def generated(html: str) -> str:
    return html.split("<mark>")[1].split("</mark>")[0]


def test_the_playground_draws_a_fresh_seed_shows_it_and_reproduces_with_it(alice_client, playable):
    first = post(alice_client, playable)
    seeds = [int(re.search(r"data-seed>(\d+)<", post(alice_client, playable)).group(1)) for _ in range(3)]
    assert len(set(seeds)) == 3  # a fresh seed each time
    seed = int(re.search(r"data-seed>(\d+)<", first).group(1))
    again = post(alice_client, playable, seed=seed)
    assert generated(again) == generated(first) and f"data-seed>{seed}<" in again


def test_the_playground_shows_and_honours_one_token_limit(alice_client, playable, settings):
    from training.engine.sampling import MAX_NEW_TOKENS, SamplingSettings
    from training.forms import PlaygroundForm, playground_token_limit

    settings.TRAINING_PLAYGROUND_MAX_NEW_TOKENS = 10_000
    assert playground_token_limit() == MAX_NEW_TOKENS == SamplingSettings(max_new_tokens=10_000).bounded().max_new_tokens
    # The run's model has 64 positions: at most 63 new tokens after a one-token prompt.
    page = alice_client.get(reverse("training:run_detail", args=[playable.code]), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert 'max="63"' in html and "At most 63." in html
    assert "at most 63" in post(alice_client, playable, max_new_tokens=64).lower() or \
        "less than or equal to 63" in post(alice_client, playable, max_new_tokens=64)
    assert PlaygroundForm(context_tokens=1024).fields["max_new_tokens"].max_value == MAX_NEW_TOKENS


def test_playground_field_errors_reach_the_htmx_result_box(alice, corpus, client):
    run = make_finished_run(alice, corpus)
    client.force_login(alice)
    url = reverse("training:run_playground", args=[run.code])
    data = {"prompt": "Once", "temperature": 99, "top_k": 5, "top_p": 0.9, "max_new_tokens": 5}
    # htmx only swaps 2xx answers: the error comes back as 200, naming the field.
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="field-error"' in body and "Temperature:" in body and "<html" not in body
    # Without htmx the whole page answers 400 with the form and its error.
    response = client.post(url, data)
    assert response.status_code == 400 and "Temperature:" in response.content.decode()


def test_playground_opens_on_the_sample_prompt_in_the_texts_language(alice, corpus, client):
    client.force_login(alice)
    run = make_finished_run(alice, corpus, archive=False)
    samples = [{"prompt": "昔々、ある村に", "tuned": "x"}, {"prompt": "Once upon a time,", "tuned": "y"}]

    def default_prompt(share):
        TrainingRun.objects.filter(pk=run.pk).update(samples=samples, metrics={"data": {"japanese_share": share}})
        page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
        return page.split('name="prompt"')[1].split("</textarea>")[0]

    assert default_prompt(0.0).endswith("Once upon a time,")
    assert default_prompt(0.9).endswith("昔々、ある村に")
