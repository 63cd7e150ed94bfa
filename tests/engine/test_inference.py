"""Playground helpers on a tiny exported model."""
import threading

import pytest

from training.engine import (
    EngineError, attention_weights, configure_inference, generate, gpt2_tokenizer_dir, load_model,
    next_token_distribution, tokenize_view, vocabulary_size,
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
    top = next_token_distribution(model_dir, "the ship sailed", k=5)["candidates"]
    assert len(top) == 5
    probabilities = [t["probability"] for t in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
    assert {"token_id", "text", "bytes", "partial", "probability", "raw_probability"} == set(top[0])
    assert all(t["probability"] == pytest.approx(t["raw_probability"], abs=1e-5) for t in top)  # no filter
    sharper = next_token_distribution(model_dir, "the ship sailed", k=5, temperature=0.1)["candidates"]
    assert sharper[0]["token_id"] == top[0]["token_id"]
    assert sharper[0]["probability"] > top[0]["probability"]
    only_two = next_token_distribution(model_dir, "the ship sailed", k=5, top_k=2)
    assert only_two["kept_tokens"] == 2 and len(only_two["candidates"]) == 2  # ruled-out tokens are left out
    assert sum(t["probability"] for t in only_two["candidates"]) == pytest.approx(1.0, abs=1e-4)
    # A sharp distribution (low temperature), so the nucleus is a few tokens of this random model.
    nucleus = next_token_distribution(model_dir, "the ship sailed", k=100, temperature=0.01, top_p=0.5)
    kept = nucleus["candidates"]
    assert sum(t["probability"] for t in kept) == pytest.approx(1.0, abs=1e-4) and 1 <= len(kept) < 100
    assert nucleus["kept_tokens"] == len(kept)


def test_next_token_distribution_steps_on_picked_tokens_and_samples_by_seed(model_dir):
    start = next_token_distribution(model_dir, "the ship", k=3, seed=3)
    assert start["picked"] == [] and start["continuation"] == "" and start["text"] == "the ship"
    assert start["sampled"] == next_token_distribution(model_dir, "the ship", k=3, seed=3)["sampled"]
    chosen = start["candidates"][0]["token_id"]
    step = next_token_distribution(model_dir, "the ship", picked=[chosen], k=3)
    assert step["prompt_tokens"] == start["prompt_tokens"] and step["context_tokens"] == start["context_tokens"] + 1
    assert [p["token_id"] for p in step["picked"]] == [chosen] and step["continuation"]
    greedy = next_token_distribution(model_dir, "the ship", temperature=0, k=5)
    assert len(greedy["candidates"]) == 1 and greedy["sampled"]["token_id"] == chosen
    with pytest.raises(EngineError) as caught:
        next_token_distribution(model_dir, "the ship", picked=[start["vocab_size"]])
    assert caught.value.code == "bad_token"


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


def test_vocabulary_size():
    assert vocabulary_size(gpt2_tokenizer_dir()) == 50257


def test_tokenize_view_of_a_trained_tokenizer(model_dir):
    tokens = tokenize_view(model_dir, "the ship 今日は")
    assert b"".join(bytes.fromhex(t["bytes"]) for t in tokens).decode("utf-8") == "the ship 今日は"
    assert tokens[0]["text"] == "the"
    assert len(tokenize_view(model_dir, "x" * 100_000)) <= inference.MAX_TOKENIZE_CHARS


def test_attention_weights(model_dir):
    view = attention_weights(model_dir, "the ship sailed over the grey sea", max_tokens=5)
    assert len(view["tokens"]) == 5 and len(view["token_ids"]) == len(view["pieces"]) == 5
    assert view["total_tokens"] > 5
    assert len(view["layers"]) == 2 and len(view["layers"][0]) == 2  # layers x heads
    matrix = view["layers"][1][0]
    assert len(matrix) == 5 and all(len(row) == 5 for row in matrix)
    assert all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in matrix)
    assert all(matrix[i][j] == 0 for i in range(5) for j in range(i + 1, 5))  # causal
    assert len(attention_weights(model_dir, "word " * 500, max_tokens=10_000)["tokens"]) <= 64


def test_the_model_cache_is_bounded_and_shared_between_threads(model_dir, tmp_path):
    import shutil

    inference.clear_model_cache()
    loaded = []
    threads = [threading.Thread(target=lambda: loaded.append(load_model(model_dir))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in loaded}) == 1
    configure_inference(max_models=2)
    try:
        copies = [shutil.copytree(model_dir, tmp_path / f"copy{i}") for i in range(3)]
        for copy in copies:
            load_model(str(copy))
        assert len(inference._models) == 2
        assert load_model(model_dir) is not loaded[0]  # evicted, loaded again
        configure_inference(max_models=1)  # a smaller bound applies at once
        assert len(inference._models) == 1
    finally:
        configure_inference(max_models=inference.DEFAULT_MODEL_CACHE_SIZE)


def test_a_missing_model_is_reported(tmp_path):
    with pytest.raises(EngineError) as caught:
        generate(str(tmp_path), "hi")
    assert caught.value.code == "model_missing"


def test_generated_text_drops_broken_characters_and_control_bytes():
    from training.engine.sampling import readable

    assert readable("今日\ufffdは\x7f晴れ\n\tです。\u3000 ok") == "今日は晴れ\n\tです。\u3000 ok"
