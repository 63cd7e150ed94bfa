"""Chat-template API: a conversation rendered with the site's template, split by GPT-2's
tokenizer with the chat tokens; exactly the tokens whose label is not -100 count. POST only,
with the CSRF token, for logged-in students; bad input is a JSON error in both languages."""
import pytest
from django.test import Client
from django.urls import reverse

from tests.lab.conftest import error_of
from training.engine.chat import IGNORE, chat_tokenizer, encode_conversation
from training.engine.tokenization import gpt2_tokenizer_dir, load_tokenizer
from training.lab.services import MAX_CHAT_MESSAGE_CHARS

URL = "lab:api_chat_template"


def post(client, **fields):
    return client.post(reverse(URL), fields)


def speak(user, language):
    user.preferred_language = language
    user.save()


def test_the_highlighted_tokens_are_exactly_those_training_learns(alice_client):
    response = post(alice_client, user="What is a token?", assistant="A piece of text with its own id.")
    assert response.status_code == 200, response.content
    data = response.json()
    messages = [{"role": "user", "content": "What is a token?"},
                {"role": "assistant", "content": "A piece of text with its own id."}]
    assert data["messages"] == messages
    ids, labels = encode_conversation(chat_tokenizer(load_tokenizer(gpt2_tokenizer_dir())), messages)
    assert [t["id"] for t in data["tokens"]] == ids
    assert [t["counts"] for t in data["tokens"]] == [label != IGNORE for label in labels]
    # The lesson's figures: 20 tokens, 10 of them (the answer and its <|end|>) count.
    assert (data["count"], data["counted"]) == (20, 10)
    assert data["text"] == "<|user|>What is a token?<|end|>\n<|assistant|>A piece of text with its own id.<|end|>\n"
    assert [t["text"] for t in data["tokens"] if t["counts"]][-1] == "<|end|>"


def test_the_japanese_example_of_lesson_7(alice_client):
    data = post(alice_client, user="トークンとは何ですか？", assistant="ID のついた文字列の断片です。").json()
    assert (data["count"], data["counted"]) == (40, 22)
    assert any(t["partial"] for t in data["tokens"])


def test_a_system_message_is_optional_and_never_counts(alice_client):
    data = post(alice_client, system="Be brief.", user="Hi", assistant="Hello.").json()
    assert [m["role"] for m in data["messages"]] == ["system", "user", "assistant"]
    assert data["text"].startswith("<|system|>Be brief.<|end|>\n")
    assert not any(t["counts"] for t in data["tokens"] if t["role"] != "assistant")
    blank = post(alice_client, system="   ", user="Hi", assistant="Hello.").json()
    assert [m["role"] for m in blank["messages"]] == ["user", "assistant"]


@pytest.mark.parametrize("language, word", [("en", "at most 300 characters"), ("ja", "最大 300 文字")])
@pytest.mark.parametrize("role", ["system", "user", "assistant"])
def test_a_message_over_the_cap_is_refused_clearly(alice_client, alice, role, language, word):
    speak(alice, language)
    fields = {"user": "Hi", "assistant": "Hello.", role: "あ" * (MAX_CHAT_MESSAGE_CHARS + 1)}
    response = post(alice_client, **fields)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "too_long" and word in error["message"]
    assert error["params"] == {"max": MAX_CHAT_MESSAGE_CHARS, "role": role}
    exact = {**fields, role: "あ" * MAX_CHAT_MESSAGE_CHARS}
    assert post(alice_client, **exact).status_code == 200


@pytest.mark.parametrize("language, word", [("en", "Write both"), ("ja", "両方とも")])
def test_an_empty_question_or_answer_is_refused_clearly(alice_client, alice, language, word):
    speak(alice, language)
    for fields in ({"user": "Hi"}, {"assistant": "Hello."}, {"user": " ", "assistant": "\n"}, {}):
        response = post(alice_client, **fields)
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "empty_message" and word in error["message"]


def test_logged_out_visitors_get_a_json_401(db):
    response = Client().post(reverse(URL), {"user": "Hi", "assistant": "Hello."})
    assert response.status_code == 401
    assert error_of(response)["code"] == "login_required"


def test_only_post_is_accepted(alice_client):
    response = alice_client.get(reverse(URL), {"user": "Hi", "assistant": "Hello."})
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed" and "POST" in error_of(response)["message"]


def test_a_post_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse(URL), {"user": "Hi", "assistant": "Hello."}).status_code == 403
    client.get(reverse("lab:index"))  # the page sets the CSRF cookie, as for a student's browser
    token = client.cookies["csrftoken"].value
    response = client.post(reverse(URL), {"user": "Hi", "assistant": "Hello."}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content


def test_answers_are_not_cached(alice_client):
    response = post(alice_client, user="Hi", assistant="Hello.")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_lab_js_blob_names_the_url_and_the_cap(alice_client):
    from training.lab.strings import lab_strings

    blob = lab_strings()
    assert blob["urls"]["chat_template"] == reverse(URL)
    assert blob["limits"]["chat_message"] == MAX_CHAT_MESSAGE_CHARS
    assert "{count}" in blob["text"]["chat_count"] and "{counted}" in blob["text"]["chat_count"]


def test_a_students_own_model_uses_its_own_tokenizer(alice_client, alice_run, scratch_model_dir):
    """A run's tokenizer lacks the chat tokens: they get the next ids, as when an instruction
    run starts from it; the mask is still that of encode_conversation."""
    response = post(alice_client, user="猫は何ですか？", assistant="動物です。", model=str(alice_run.code))
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["tokenizer"] == {"key": "run", "model": str(alice_run.code), "name": "alice-model"}
    assert data["chat_tokens_added"] is True
    tokenizer = chat_tokenizer(load_tokenizer(scratch_model_dir))
    ids, labels = encode_conversation(tokenizer, data["messages"])
    assert [t["id"] for t in data["tokens"]] == ids
    assert [t["counts"] for t in data["tokens"]] == [label != IGNORE for label in labels]
    assert data["vocab_size"] == len(tokenizer)
    gpt2 = post(alice_client, user="猫は何ですか？", assistant="動物です。").json()
    assert gpt2["tokenizer"] == {"key": "gpt2"} and gpt2["count"] != data["count"]


def test_an_instruction_models_tokenizer_keeps_its_chat_token_ids(alice_client, alice, make_lab_run, tmp_path,
                                                                    scratch_model_dir):
    import shutil

    exported = tmp_path / "instruction-export"
    shutil.copytree(scratch_model_dir, exported)
    chat_tokenizer(load_tokenizer(scratch_model_dir)).save_pretrained(str(exported))
    run = make_lab_run(alice, name="tutor", model_dir=str(exported))
    data = post(alice_client, user="Hi", assistant="Hello.", model=str(run.code)).json()
    assert data["chat_tokens_added"] is False
    ids, labels = encode_conversation(load_tokenizer(str(exported)), data["messages"])
    assert [t["id"] for t in data["tokens"]] == ids
    assert [t["counts"] for t in data["tokens"]] == [label != IGNORE for label in labels]


def test_another_students_model_or_a_bad_code_is_404(client, bob, alice_run):
    client.force_login(bob)
    for code in (str(alice_run.code), "not-a-uuid"):
        response = post(client, user="Hi", assistant="Hello.", model=code)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
        assert b"alice-model" not in response.content


def test_a_model_whose_files_are_gone_says_so(alice_client, alice_run):
    (alice_run.attempt_dir(1) / "export").unlink()
    response = post(alice_client, user="Hi", assistant="Hello.", model=str(alice_run.code))
    assert response.status_code == 404
    assert error_of(response)["code"] == "model_missing"
