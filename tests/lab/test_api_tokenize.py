"""Tokenizer explorer API: byte spans, character spans and the figures of the explanation."""
from django.urls import reverse

from tests.lab.conftest import error_of


def tokenize(client, text, **params):
    response = client.post(reverse("lab:api_tokenize"), {"text": text, **params})
    assert response.status_code == 200, response.content
    return response.json()


def assert_spans_cover(text, side):
    raw = text.encode("utf-8")
    position = 0
    for token in side["tokens"]:
        assert token["start"] == position
        assert token["end"] - token["start"] == token["byte_length"]
        assert bytes.fromhex(token["bytes"]) == raw[token["start"]:token["end"]]
        # The characters shown for a token contain its bytes.
        assert token["text"] == text[token["char_start"]:token["char_end"]]
        assert raw[token["start"]:token["end"]] in token["text"].encode("utf-8")
        position = token["end"]
    assert position == len(raw)


def test_japanese_byte_spans_with_gpt2(alice_client):
    text = "東京メトロに乗る"
    data = tokenize(alice_client, text)
    assert data["chars"] == 8 and data["bytes"] == 24 and data["bytes_per_char"] == 3.0
    assert data["japanese_chars"] == 8
    [gpt2] = data["tokenizers"]
    assert gpt2["key"] == "gpt2" and gpt2["vocab_size"] == 50257
    assert gpt2["count"] == len(gpt2["tokens"]) > 8  # more tokens than characters
    assert gpt2["tokens_per_char"] == round(gpt2["count"] / 8, 3)
    assert_spans_cover(text, gpt2)
    # GPT-2 splits 東 (e6 9d b1) inside the character.
    first = gpt2["tokens"][0]
    assert first["text"] == "東" and first["partial"] and first["bytes"] == "e6 9d"
    assert gpt2["partial_tokens"] == sum(t["partial"] for t in gpt2["tokens"]) > 0


def test_english_costs_fewer_tokens_than_characters(alice_client):
    data = tokenize(alice_client, "Hello world")
    [gpt2] = data["tokenizers"]
    assert [t["id"] for t in gpt2["tokens"]] == [15496, 995]
    assert [t["text"] for t in gpt2["tokens"]] == ["Hello", " world"]
    assert not any(t["partial"] for t in gpt2["tokens"])
    assert data["bytes_per_char"] == 1.0


def test_side_by_side_with_the_runs_own_tokenizer(alice_client, alice_run):
    text = "昔々、あるところに猫がいた。the cat"
    data = tokenize(alice_client, text, model=str(alice_run.code))
    gpt2, own = data["tokenizers"]
    assert own["key"] == "run" and own["model"] == str(alice_run.code) and own["name"] == "alice-model"
    assert own["vocab_size"] < 1000 and not own["same_as_gpt2"]
    assert_spans_cover(text, gpt2)
    assert_spans_cover(text, own)
    # Trained on Japanese text, the small vocabulary merges Japanese bytes that GPT-2 splits.
    assert own["count"] < gpt2["count"]


def test_a_gpt2_finetune_splits_like_gpt2(alice_client, alice, make_lab_run, gpt2_vocab_model_dir):
    run = make_lab_run(alice, model_dir=gpt2_vocab_model_dir)
    gpt2, own = tokenize(alice_client, "猫カフェ cafe", model=str(run.code))["tokenizers"]
    assert own["same_as_gpt2"]
    assert [t["id"] for t in own["tokens"]] == [t["id"] for t in gpt2["tokens"]]


def test_empty_text_has_no_tokens(alice_client):
    data = tokenize(alice_client, "")
    assert data["chars"] == 0 and data["tokenizers"][0]["count"] == 0 and data["bytes_per_char"] == 0


def test_text_is_capped(alice_client):
    from training.lab import services as lab

    assert tokenize(alice_client, "あ" * lab.MAX_TOKENIZE_CHARS)["chars"] == lab.MAX_TOKENIZE_CHARS
    response = alice_client.post(reverse("lab:api_tokenize"), {"text": "あ" * (lab.MAX_TOKENIZE_CHARS + 1)})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "too_long" and error["params"]["max"] == lab.MAX_TOKENIZE_CHARS


def test_a_byte_fallback_vocabulary_shows_whole_characters_and_bytes_of_rare_ones(alice_client, alice, make_lab_run,
                                                                                  tmp_path):
    """A from-scratch run's tokenizer (BPE with byte fallback): every character of its text is
    whole; a character it never saw twice is shown as its bytes, each token marked partial."""
    from tests.factories import save_tiny_gpt2
    from tests.lab.conftest import CORPUS
    from training.engine.tokenization import load_tokenizer, train_bpe_tokenizer

    tokenizer = load_tokenizer(train_bpe_tokenizer(CORPUS, str(tmp_path / "tok"), model_max_length=64))
    run = make_lab_run(alice, name="fallback", model_dir=save_tiny_gpt2(tmp_path / "model", tokenizer))
    text = "猫がいた。鬱"
    data = tokenize(alice_client, text, model=str(run.code))
    own = data["tokenizers"][1]
    assert_spans_cover(text, own)
    whole = [t for t in own["tokens"] if not t["partial"]]
    assert "".join(t["text"] for t in whole) == "猫がいた。"
    rare = [t for t in own["tokens"] if t["partial"]]
    assert [t["bytes"] for t in rare] == ["e9", "ac", "b1"] and all(t["text"] == "鬱" for t in rare)
