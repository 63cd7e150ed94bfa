"""Next-token explorer API: probabilities, sampling controls, picks and caps."""
import pytest
from django.urls import reverse

from tests.lab.conftest import error_of


@pytest.fixture
def ask(alice_client, alice_run):
    def ask(prompt="the cat", expect=200, **params):
        response = alice_client.post(reverse("lab:api_next_token"), {"model": str(alice_run.code), "prompt": prompt,
                                                                     **params})
        assert response.status_code == expect, response.content
        return response.json() if expect == 200 else error_of(response)
    return ask


def test_candidates_are_the_most_likely_tokens(ask, alice_run):
    data = ask(k=8)
    probabilities = [c["probability"] for c in data["candidates"]]
    assert len(probabilities) == 8
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 <= p <= 1 for p in probabilities)
    assert sum(probabilities) <= 1 + 1e-6
    # Without temperature or filters the shown probability is the model's own.
    assert all(c["probability"] == pytest.approx(c["raw_probability"], abs=1e-5) for c in data["candidates"])
    assert data["model"] == str(alice_run.code)
    assert data["vocab_size"] == data["kept_tokens"]
    assert data["text"] == "the cat" and data["continuation"] == "" and data["picked"] == []


def test_it_agrees_with_the_engines_distribution(ask, scratch_model_dir):
    from training.engine import next_token_distribution

    data = ask(prompt="the dog sat", k=5, temperature=0.7, top_k=40, top_p=0.9)
    engine = next_token_distribution(scratch_model_dir, "the dog sat", k=5, temperature=0.7, top_k=40,
                                     top_p=0.9)["candidates"]
    assert [c["token_id"] for c in data["candidates"]] == [e["token_id"] for e in engine]
    for mine, theirs in zip(data["candidates"], engine):
        assert mine["probability"] == pytest.approx(theirs["probability"], abs=1e-5)


def test_top_k_keeps_k_tokens_and_renormalises(ask):
    data = ask(top_k=3, k=10)
    assert data["kept_tokens"] == 3
    assert len(data["candidates"]) == 3
    assert sum(c["probability"] for c in data["candidates"]) == pytest.approx(1, abs=1e-4)
    assert all(c["probability"] >= c["raw_probability"] for c in data["candidates"])


def test_top_p_keeps_the_smallest_set_reaching_p(ask):
    full = ask(k=50)["candidates"]
    data = ask(top_p=0.05, k=50)
    raw = [c["raw_probability"] for c in full]
    needed = next(i + 1 for i in range(len(raw)) if sum(raw[:i + 1]) >= 0.05)
    assert data["kept_tokens"] == needed


def test_temperature_sharpens_and_flattens(ask):
    cold, hot = ask(temperature=0.3)["candidates"][0], ask(temperature=2.0)["candidates"][0]
    assert cold["probability"] > cold["raw_probability"] > hot["probability"]


def test_temperature_zero_is_greedy(ask):
    data = ask(temperature=0, k=5)
    assert len(data["candidates"]) == 1 and data["candidates"][0]["probability"] == 1.0
    assert data["sampled"]["token_id"] == data["candidates"][0]["token_id"] == ask(k=1)["candidates"][0]["token_id"]


def test_sampling_is_reproducible_and_among_the_kept_tokens(ask):
    kept = {c["token_id"] for c in ask(top_k=5, k=5)["candidates"]}
    first = ask(top_k=5, seed=7)["sampled"]
    assert first == ask(top_k=5, seed=7)["sampled"]
    assert first["token_id"] in kept


def test_picks_step_on_one_token_at_a_time(ask):
    start = ask(prompt="東京")
    chosen = start["candidates"][0]
    step = ask(prompt="東京", ids=str(chosen["token_id"]))
    assert step["prompt_tokens"] == start["prompt_tokens"]
    assert step["context_tokens"] == start["context_tokens"] + 1
    assert [p["token_id"] for p in step["picked"]] == [chosen["token_id"]]
    assert step["text"].startswith("東京")
    second = ask(prompt="東京", ids=f"{chosen['token_id']},{step['candidates'][0]['token_id']}")
    assert second["context_tokens"] == start["context_tokens"] + 2
    assert second["candidates"] != start["candidates"] or second["text"] != start["text"]


def test_a_half_character_pick_shows_its_bytes(ask, scratch_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(scratch_model_dir)
    half = tokenizer.convert_tokens_to_ids("æ")  # byte e6: the first byte of many kanji
    data = ask(prompt="", ids=str(half))
    assert data["picked"][0]["partial"] and data["picked"][0]["bytes"] == "e6"


@pytest.mark.parametrize("params, code", [
    ({"temperature": "abc"}, "bad_value"),
    ({"temperature": "5"}, "bad_value"),
    ({"temperature": "nan"}, "bad_value"),
    ({"top_p": "0"}, "bad_value"),
    ({"top_p": "1.5"}, "bad_value"),
    ({"top_k": "-1"}, "bad_value"),
    ({"k": "51"}, "bad_value"),
    ({"ids": "999999"}, "bad_token"),
    ({"ids": "1,x"}, "bad_token"),
    ({"ids": ",".join(["1"] * 65)}, "too_many_picks"),
    ({"prompt": "あ" * 501}, "too_long"),
])
def test_bad_inputs_get_a_clear_json_error(ask, params, code):
    assert ask(expect=400, **params)["code"] == code


def test_a_long_context_keeps_the_last_tokens(ask):
    data = ask(prompt="the cat sat on the mat. " * 20)
    assert data["truncated"] and data["context_tokens"] == 64  # the test model's n_positions
