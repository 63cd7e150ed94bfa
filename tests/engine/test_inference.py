"""Playground helpers on a tiny exported model."""
import threading

import pytest

from training.engine import (
    EngineError, attention_weights, generate, gpt2_tokenizer_dir, load_model, next_token_distribution,
    tokenize_view,
)
from training.engine import inference


@pytest.fixture(scope="module")
def model_dir(tiny_base_dir):
    return tiny_base_dir


def test_generate_returns_a_reproducible_continuation(model_dir):
    first = generate(model_dir, "the ship", max_new_tokens=8, seed=7)
    assert first == generate(model_dir, "the ship", max_new_tokens=8, seed=7)
    assert not first.startswith("the ship")
    others = {generate(model_dir, "the ship", max_new_tokens=8, seed=s) for s in range(5)}
    assert len(others) > 1


def test_generate_is_greedy_at_temperature_zero_and_bounds_lengths(model_dir):
    greedy = [generate(model_dir, "the sea", temperature=0, max_new_tokens=6, seed=s) for s in (1, 2)]
    assert greedy[0] == greedy[1]
    loaded = load_model(model_dir)
    long = generate(model_dir, "word " * 5000, max_new_tokens=10_000, seed=0)  # clamped, no crash
    assert len(loaded.tokenizer(long)["input_ids"]) < 150  # 10,000 asked, about 100 given
    assert isinstance(generate(model_dir, "", max_new_tokens=3), str)


def test_next_token_distribution(model_dir):
    top = next_token_distribution(model_dir, "the ship sailed", k=5)
    assert len(top) == 5
    probabilities = [t["probability"] for t in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
    assert {"token_id", "text", "probability"} == set(top[0])
    sharper = next_token_distribution(model_dir, "the ship sailed", k=5, temperature=0.1)
    assert sharper[0]["token_id"] == top[0]["token_id"]
    assert sharper[0]["probability"] > top[0]["probability"]
    only_two = next_token_distribution(model_dir, "the ship sailed", k=5, top_k=2)
    assert sum(t["probability"] for t in only_two[:2]) == pytest.approx(1.0, abs=1e-4)
    assert all(t["probability"] == 0 for t in only_two[2:])
    # A sharp distribution (low temperature), so the nucleus is a few tokens of this random model.
    nucleus = next_token_distribution(model_dir, "the ship sailed", k=100, temperature=0.01, top_p=0.5)
    kept = [t for t in nucleus if t["probability"] > 0]
    assert sum(t["probability"] for t in kept) == pytest.approx(1.0, abs=1e-4) and 1 <= len(kept) < 100


def test_tokenize_view_gives_byte_spans():
    text = "Hello こんにちは"
    tokens = tokenize_view(gpt2_tokenizer_dir(), text)
    assert tokens[0] == {"id": 15496, "text": "Hello", "start": 0, "end": 5, "bytes": "48 65 6c 6c 6f"}
    encoded = text.encode("utf-8")
    assert b"".join(bytes.fromhex(t["bytes"]) for t in tokens) == encoded
    assert [t["start"] for t in tokens[1:]] == [t["end"] for t in tokens[:-1]]
    assert tokens[-1]["end"] == len(encoded)
    # GPT-2 splits some Japanese characters across tokens: a token may hold part of a character.
    assert any("\ufffd" in t["text"] for t in tokens)
    assert all(encoded[t["start"]:t["end"]] == bytes.fromhex(t["bytes"]) for t in tokens)


def test_tokenize_view_of_a_trained_tokenizer(model_dir):
    tokens = tokenize_view(model_dir, "the ship 今日は")
    assert b"".join(bytes.fromhex(t["bytes"]) for t in tokens).decode("utf-8") == "the ship 今日は"
    assert tokens[0]["text"] == "the"
    assert len(tokenize_view(model_dir, "x" * 100_000)) <= inference.MAX_TOKENIZE_CHARS


def test_attention_weights(model_dir):
    view = attention_weights(model_dir, "the ship sailed over the grey sea", max_tokens=5)
    assert len(view["tokens"]) == 5
    assert len(view["layers"]) == 2 and len(view["layers"][0]) == 2  # layers x heads
    matrix = view["layers"][1][0]
    assert len(matrix) == 5 and all(len(row) == 5 for row in matrix)
    assert all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in matrix)
    assert all(matrix[i][j] == 0 for i in range(5) for j in range(i + 1, 5))  # causal
    assert len(attention_weights(model_dir, "word " * 500, max_tokens=10_000)["tokens"]) <= 64


def test_the_model_cache_is_bounded_and_shared_between_threads(model_dir, tmp_path, monkeypatch):
    import shutil

    inference.clear_model_cache()
    loaded = []
    threads = [threading.Thread(target=lambda: loaded.append(load_model(model_dir))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in loaded}) == 1
    monkeypatch.setattr(inference, "MODEL_CACHE_SIZE", 2)
    copies = [shutil.copytree(model_dir, tmp_path / f"copy{i}") for i in range(3)]
    for copy in copies:
        load_model(str(copy))
    assert len(inference._models) == 2
    assert load_model(model_dir) is not loaded[0]  # evicted, loaded again


def test_a_missing_model_is_reported(tmp_path):
    with pytest.raises(EngineError) as caught:
        generate(str(tmp_path), "hi")
    assert caught.value.code == "model_missing"


def test_generated_text_drops_broken_characters_and_control_bytes():
    from training.engine.sampling import readable

    assert readable("今日\ufffdは\x7f晴れ\n\tです。\u3000 ok") == "今日は晴れ\n\tです。\u3000 ok"
