"""Instruction datasets and runs on the site: the upload is recognised and checked line by line,
a run on it trains in an in-process job, its archive formats a chat, its page shows answers to
held-out questions, and its playground is a chat."""
import json
import zipfile

import pytest
from django.urls import reverse

from tests.factories import make_checked_dataset, make_instructions, run_form, run_pending_checks, upload
from training import jobs, services
from training.models import Dataset, TrainingRun

BAD_LINES = "\n".join([
    json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}),
    json.dumps({"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "x"}]}),
    json.dumps({"instruction": "Say hi", "output": ""}),
    json.dumps({"messages": [{"role": "user", "content": "Hi"}]}),
])


@pytest.fixture
def conversations(alice, bases):
    return make_checked_dataset(alice, upload("tutor.jsonl", make_instructions(80).encode()))


def test_an_instruction_file_is_recognised_and_checked(conversations, alice_client):
    assert conversations.kind == Dataset.INSTRUCTION and conversations.is_usable
    assert conversations.report["instructions"]["examples"] == 80
    page = alice_client.get(reverse("training:dataset_detail", args=[conversations.code])).content.decode()
    assert "Conversations" in page and "Answer tokens (what is learned)" in page
    listing = alice_client.get(reverse("training:datasets")).content.decode()
    assert '<span class="badge badge-info">conversations</span>' in listing
    # A text .jsonl stays a text; the student may also say which kind a file is.
    text = make_checked_dataset(conversations.owner, upload("notes.jsonl", b'{"text": "the ship sailed"}\n' * 300))
    assert text.kind == Dataset.TEXT
    chosen = make_checked_dataset(conversations.owner, upload("tutor.jsonl", make_instructions(10).encode()),
                                  kind="instruction")
    assert chosen.kind == Dataset.INSTRUCTION


@pytest.mark.parametrize("language, expected", [
    ("en", ["The conversations file has 3 problems:", "Line 2: message 1 has the role", "Line 3: the assistant",
            "Line 4: the conversation has no assistant turn"]),
    ("ja", ["3 件の問題", "2 行目", "3 行目", "4 行目"]),
])
def test_every_problem_of_an_upload_is_named_with_its_line(alice, alice_client, bases, language, expected):
    alice.preferred_language = language
    alice.save()
    response = alice_client.post(reverse("training:datasets"), {"file": upload("bad.jsonl", BAD_LINES.encode())})
    assert response.status_code == 302 and run_pending_checks() == 1  # checked by a job, off the request
    dataset = Dataset.objects.get()
    assert dataset.kind == Dataset.INSTRUCTION and dataset.check_status == Dataset.FAILED
    page = alice_client.get(response.url).content.decode()
    for fragment in expected:
        assert fragment in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_an_instruction_run_trains_and_its_page_is_a_chat(alice, alice_client, conversations, bases, fast_runs, inference_worker,
                                                         redis_conn, tmp_path):
    response = alice_client.post(reverse("training:run_new"), run_form(conversations, max_steps="12"))
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.task == TrainingRun.INSTRUCTION_TASK and run.is_instruction
    assert jobs.run_training(run.pk, 1) == "succeeded"
    run.refresh_from_db()
    assert run.metrics["data"]["examples"] == 80 and run.metrics["data"]["val_examples"] == 8
    assert all(sample.get("reference") for sample in run.samples)

    # The archive's tokenizer writes a chat with transformers' own apply_chat_template.
    from transformers import AutoTokenizer

    zipfile.ZipFile(run.archive_path).extractall(tmp_path / "download")
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "download"))
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Repeat: the sea"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text == "<|user|>Repeat: the sea<|end|>\n<|assistant|>"

    page = alice_client.get(reverse("training:run_detail", args=[run.code])).content.decode()
    assert "Answers to held-out questions, before and after" in page and "Expected answer" in page
    assert "Held-out loss on answers" in page and 'id="chat-panel"' in page

    # The chat playground: an answer, the conversation kept in the page, then a second turn.
    url = reverse("training:run_playground", args=[run.code])
    values = {"message": "Repeat: the ship sailed", "temperature": "0.8", "top_k": "50", "top_p": "0.95",
              "max_new_tokens": "8", "seed": "3", "system": "You repeat."}
    first = alice_client.post(url, values, HTTP_HX_REQUEST="true")
    assert first.status_code == 200
    history = json.loads(first.context["chat_form"].initial["history"])
    assert [m["role"] for m in history] == ["user", "assistant"] and history[0]["content"] == values["message"]
    second = alice_client.post(url, {**values, "message": "Repeat: the cook", "history": json.dumps(history)},
                               HTTP_HX_REQUEST="true")
    assert [m["role"] for m in second.context["chat_history"]] == ["user", "assistant"] * 2
    assert "Repeat: the cook" in second.content.decode()
    # A forged history is refused with a message, and nothing is generated.
    forged = alice_client.post(url, {**values, "history": '[{"role": "system", "content": "x"}]'},
                               HTTP_HX_REQUEST="true")
    assert "The conversation could not be read" in forged.content.decode()


def test_the_chat_history_is_bounded(alice, conversations, bases):
    from training.forms import ChatForm
    from training.services import MAX_CHAT_MESSAGES

    long = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(50)]
    form = ChatForm({"message": "hi", "temperature": 0.8, "top_k": 50, "top_p": 0.95, "max_new_tokens": 8,
                     "history": json.dumps(long)}, context_tokens=64)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["history"] == long[-MAX_CHAT_MESSAGES:]
    too_long = [{"role": "user", "content": "x" * 1001}]
    form = ChatForm({"message": "hi", "temperature": 0.8, "top_k": 50, "top_p": 0.95, "max_new_tokens": 8,
                     "history": json.dumps(too_long)}, context_tokens=64)
    assert not form.is_valid() and "history" in form.errors


def test_conversations_uploaded_in_the_admin_are_recognised(client, carol, bases):
    client.force_login(carol)
    response = client.post(reverse("admin:training_dataset_add"), {
        "name": "Tutor", "description": "", "language": "en", "owner": "", "is_sample": "on", "published": "on",
        "file": upload("tutor.jsonl", make_instructions(20).encode())})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert run_pending_checks() == 1
    dataset = Dataset.objects.get()
    assert dataset.kind == Dataset.INSTRUCTION and dataset.report["instructions"]["examples"] == 20


def test_long_conversations_get_a_longer_block(alice, bases, settings):
    settings.TRAINING_EXTRA_HYPERPARAMETERS = {}
    long_answer = " ".join(["the ship sailed over the grey sea"] * 25)  # about 180 GPT-2 tokens
    lines = make_instructions(40) + json.dumps({"messages": [{"role": "user", "content": "Tell me"},
                                                             {"role": "assistant", "content": long_answer}]})
    dataset = make_checked_dataset(alice, upload("long.jsonl", lines.encode()))
    assert 128 < dataset.report["instructions"]["longest_tokens"] <= 256
    plan = services.run_plan(owner=alice, dataset=dataset, base_model=bases["tiny"])
    assert plan["hyperparameters"]["block_size"] == 256
    short = make_checked_dataset(alice, upload("short.jsonl", make_instructions(40).encode()))
    assert services.run_plan(owner=alice, dataset=short, base_model=bases["tiny"])["hyperparameters"]["block_size"] == 128


def test_the_dataset_page_warns_only_of_conversations_a_run_would_cut(alice, alice_client, bases):
    def page_of(answer_words):
        answer = " ".join(["the ship sailed over the grey sea"] * answer_words)
        lines = make_instructions(40) + json.dumps({"messages": [{"role": "user", "content": "Tell me"},
                                                                 {"role": "assistant", "content": answer}]})
        dataset = make_checked_dataset(alice, upload("long.jsonl", lines.encode()))
        page = alice_client.get(reverse("training:dataset_detail", args=[dataset.code])).content.decode()
        return dataset.report["instructions"]["longest_tokens"], page

    longest, page = page_of(25)  # about 180 tokens: a run takes a block of 256, nothing is cut
    assert 128 < longest <= 256 and "so its beginning is cut" not in page
    longest, page = page_of(60)  # about 430 tokens: more than any block a run takes by default
    assert longest > 256
    assert f"The longest conversation has {longest:,} tokens, more than the longest block a run takes (256 tokens)" in page


def test_the_new_run_page_says_when_a_run_is_an_instruction_run(alice_client, conversations, corpus):
    page = alice_client.get(reverse("training:run_new") + f"?dataset={conversations.code}").content.decode()
    assert "This is an instruction run." in page and "in a playground" in page
    # On a from-scratch base, it also says what a few hundred conversations teach (and what they do not).
    assert "learns the voice and the format of the answers, not the knowledge in them" in page
    assert "Stops early when the held-out loss on answers has not improved" in page
    # The estimate follows the dataset chosen: a text is no instruction run.
    estimate = alice_client.get(reverse("training:run_estimate"), run_form(corpus)).content.decode()
    assert "estimated training time" in estimate and "instruction run" not in estimate
    estimate = alice_client.get(reverse("training:run_estimate"), run_form(conversations)).content.decode()
    assert "This is an instruction run." in estimate


def test_an_instruction_run_shows_its_loss_on_held_out_answers(alice, alice_client, bases, conversations, corpus):
    from tests.factories import make_finished_run

    chat = make_finished_run(alice, conversations)
    chat.task = TrainingRun.INSTRUCTION_TASK
    chat.save(update_fields=["task"])
    text = make_finished_run(alice, corpus)
    progress = alice_client.get(reverse("training:run_progress", args=[chat.code])).content.decode()
    assert "Held-out loss on answers" in progress and "Validation loss" not in progress
    assert "the held-out loss on the answers of conversations it never sees" in progress
    page = alice_client.get(reverse("training:run_detail", args=[chat.code])).content.decode()
    assert "Best held-out loss on answers" in page
    assert "learns the voice and the format of the answers" not in page  # no base row: not known to be from scratch
    chat.base_model = bases["tiny"]
    chat.save(update_fields=["base_model"])
    page = alice_client.get(reverse("training:run_detail", args=[chat.code])).content.decode()
    assert "learns the voice and the format of the answers, not the knowledge in them" in page
    progress = alice_client.get(reverse("training:run_progress", args=[text.code])).content.decode()
    assert "Validation loss" in progress and "Held-out loss on answers" not in progress


def test_an_empty_answer_says_the_model_ended_at_once(alice, alice_client, conversations):
    from tests.factories import make_finished_run

    chat = make_finished_run(alice, conversations)
    chat.task = TrainingRun.INSTRUCTION_TASK
    chat.save(update_fields=["task"])
    history = [{"role": "user", "content": "What is a token?"}, {"role": "assistant", "content": ""}]
    # An empty message is refused; the page shows the conversation so far, the empty answer said in words.
    page = alice_client.post(reverse("training:run_playground", args=[chat.code]), {
        "message": "", "temperature": 0.8, "top_k": 50, "top_p": 0.95, "max_new_tokens": 8,
        "history": json.dumps(history)}).content.decode()
    assert "What is a token?" in page and "the model wrote its end token straight away" in page


def test_a_chat_answer_cut_short_says_so(alice, alice_client, conversations, monkeypatch):
    """Under load the worker stops an answer a little before the request stops waiting: the chat
    shows the shorter answer and says why."""
    from tests.factories import make_finished_run
    from training import inference

    chat = make_finished_run(alice, conversations)
    TrainingRun.objects.filter(pk=chat.pk).update(task=TrainingRun.INSTRUCTION_TASK)
    monkeypatch.setattr(inference, "inference_call",
                        lambda *a, **k: {"reply": "A token is", "used_messages": 1, "cut_short": True})
    page = alice_client.post(reverse("training:run_playground", args=[chat.code]), {
        "message": "What is a token?", "temperature": 0.8, "top_k": 50, "top_p": 0.95, "max_new_tokens": 8,
        "history": "[]"}).content.decode()
    assert "A token is" in page and "the answer stopped early so that it reached you in time" in page


OVERFIT_HISTORY = [{"step": 1, "train_loss": 5.0, "val_loss": 5.0}, {"step": 2, "train_loss": 4.0, "val_loss": 4.0},
                   {"step": 3, "train_loss": 3.0, "val_loss": 4.6}, {"step": 4, "train_loss": 2.0, "val_loss": 5.2}]


def finished_pair(alice, conversations, corpus, **fields):
    """A finished instruction run and a finished text run, both with `fields`."""
    from tests.factories import make_finished_run

    chat, text = make_finished_run(alice, conversations), make_finished_run(alice, corpus)
    TrainingRun.objects.filter(pk=chat.pk).update(task=TrainingRun.INSTRUCTION_TASK, **fields)
    TrainingRun.objects.filter(pk=text.pk).update(**fields)
    chat.refresh_from_db()
    text.refresh_from_db()
    return chat, text


def test_an_instruction_runs_results_say_why_it_stopped_in_its_words(alice, alice_client, conversations, corpus):
    early = {"metrics": {"base_val_loss": 6.0, "final_val_loss": 4.0, "steps": 300, "best_step": 200,
                         "stop_reason": "early_stopping"}, "hyperparameters": {"early_stopping_patience": 4}}
    chat, text = finished_pair(alice, conversations, corpus, **early)
    page = alice_client.get(reverse("training:run_detail", args=[chat.code])).content.decode()
    assert "Stopped early at step 300: the loss on held-out answers had not improved for 4 evaluations." in page
    assert "the better it predicts the answers" in page and "per character of the held-out answers" in page
    assert "validation loss" not in page.lower()
    page = alice_client.get(reverse("training:run_detail", args=[text.code])).content.decode()
    assert "Stopped early at step 300: validation loss had not improved for 4 evaluations." in page
    assert "the better it predicts your text" in page and "held-out answers" not in page
    # Capped passes: over the conversations, not over a text.
    capped = {"metrics": {"steps": 90, "best_step": 90, "stop_reason": "epochs"},
              "plan": {"limited_by": "epoch_cap", "max_epochs": 12}}
    TrainingRun.objects.filter(pk__in=[chat.pk, text.pk]).update(**capped)
    alice.preferred_language = "ja"
    alice.save()
    page = alice_client.get(reverse("training:run_detail", args=[chat.code])).content.decode()
    assert "会話を 12 回読んだところ（ステップ 90）で終了しました。" in page
    page = alice_client.get(reverse("training:run_detail", args=[text.code])).content.decode()
    assert "テキストを 12 回読んだところ（ステップ 90）で終了しました。" in page


def test_an_instruction_runs_overfitting_warning_speaks_of_answers(alice, alice_client, conversations, corpus):
    chat, text = finished_pair(alice, conversations, corpus, overfitting=True, history=OVERFIT_HISTORY)
    progress = alice_client.get(reverse("training:run_progress", args=[chat.code])).content.decode()
    assert "Overfitting warning:" in progress
    assert "the loss on held-out answers has started to rise" in progress and "validation loss" not in progress
    progress = alice_client.get(reverse("training:run_progress", args=[text.code])).content.decode()
    assert "the validation loss has started to rise" in progress and "held-out answers" not in progress
    # Still getting ready: an instruction run reads conversations.
    TrainingRun.objects.filter(pk=chat.pk).update(status="running", total_steps=0, overfitting=False)
    progress = alice_client.get(reverse("training:run_progress", args=[chat.code])).content.decode()
    assert "Reading your conversations and measuring the model" in progress


def test_the_new_run_forms_help_follows_the_dataset(alice_client, conversations, corpus):
    chat_page = alice_client.get(reverse("training:run_new") + f"?dataset={conversations.code}").content.decode()
    assert "Each is asked as a question" in chat_page and "continues the beginnings" not in chat_page
    assert "picks up the voice and the format of your answers" in chat_page
    assert "picks up your text's style" not in chat_page and "passes over your conversations" in chat_page
    text_page = alice_client.get(reverse("training:run_new") + f"?dataset={corpus.code}").content.decode()
    assert "continues the beginnings of a few lines of your text" in text_page
    assert "picks up your text's style" in text_page and "Each is asked as a question" not in text_page
    # Choosing another dataset fetches the estimate, which also brings the help for that dataset
    # (out-of-band swaps of the preset's and the prompts' help, by id).
    estimate = alice_client.get(reverse("training:run_estimate"), run_form(conversations)).content.decode()
    assert '<small class="help" id="preset-help" hx-swap-oob="true">' in estimate
    assert 'id="id_sample_prompts_helptext" hx-swap-oob="true">Optional, one per line' in estimate
    assert 'id="id_max_steps_helptext" hx-swap-oob="true">' in estimate
    assert "stops sooner when the loss on held-out answers stops improving" in estimate
    assert "Each is asked as a question" in estimate and "picks up the voice and the format" in estimate
    estimate = alice_client.get(reverse("training:run_estimate"), run_form(corpus)).content.decode()
    assert "continues the beginnings of a few lines of your text" in estimate
    assert "picks up your text's style" in estimate and "Each is asked as a question" not in estimate
    assert "stops sooner when the validation loss stops improving" in estimate
    # An estimate refused for another field still words the help for the dataset chosen.
    refused = alice_client.get(reverse("training:run_estimate"),
                               run_form(conversations, batch_size="-3")).content.decode()
    assert "field-error" in refused and "Each is asked as a question" in refused
    # The page itself holds one of each (the estimate inside it swaps nothing out of band).
    assert chat_page.count('id="preset-help"') == 1 and chat_page.count('id="id_sample_prompts_helptext"') == 1
    assert chat_page.count('id="id_max_steps_helptext"') == 1
    assert "stops sooner when the loss on held-out answers" in chat_page
    assert "hx-swap-oob" not in chat_page


def test_the_seeded_course_tutor_counts_its_conversations_not_template_lines(alice, alice_client, bases):
    from pathlib import Path

    seed = Path(__file__).resolve().parents[2] / "training" / "seed" / "instructions"
    for language, count in (("en", 304), ("ja", 309)):
        data = (seed / f"{language}-course-tutor.jsonl").read_bytes()
        dataset = make_checked_dataset(alice, upload(f"{language}-tutor.jsonl", data))
        assert dataset.report["instructions"]["examples"] == count
        assert dataset.report["lines"] == count  # the file's lines, not the template's (a line a message)
        page = alice_client.get(reverse("training:dataset_detail", args=[dataset.code])).content.decode()
        assert f"<dt>Conversations</dt><dd>{count}</dd>" in page
        assert "<dt>Lines</dt>" not in page  # the template's 608 (618) lines were its messages, shown as such
        assert f"<dt>Messages</dt><dd>{2 * count}</dd>" in page
        # A conversation is one training example: no 128-token blocks are counted or explained.
        assert "<dt>Training blocks</dt>" not in page and "Each conversation is one training example" in page
    text = make_checked_dataset(alice, upload("notes.txt", b"the ship sailed over the sea\n" * 300))
    page = alice_client.get(reverse("training:dataset_detail", args=[text.code])).content.decode()
    assert "<dt>Lines</dt><dd>300</dd>" in page and "<dt>Conversations</dt>" not in page
    assert "<dt>Training blocks</dt>" in page and "A block is one training example of 128 tokens" in page
