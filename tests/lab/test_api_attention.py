"""Attention API: a matrix per layer and head, causal, capped."""
import pytest
from django.urls import reverse

from tests.lab.conftest import error_of


@pytest.fixture
def ask(alice_client, alice_run):
    def ask(text="the cat sat on the mat", expect=200, **params):
        response = alice_client.post(reverse("lab:api_attention"),
                                     {"model": str(alice_run.code), "text": text, **params})
        assert response.status_code == expect, response.content
        return response.json() if expect == 200 else error_of(response)
    return ask


def test_one_matrix_per_layer_and_head(ask):
    data = ask()
    n = len(data["tokens"])
    assert n == data["total_tokens"] and not data["truncated"]
    assert (data["n_layer"], data["n_head"]) == (2, 2)
    assert len(data["layers"]) == 2 and all(len(layer) == 2 for layer in data["layers"])
    for layer in data["layers"]:
        for matrix in layer:
            assert len(matrix) == n and all(len(row) == n for row in matrix)
            for i, row in enumerate(matrix):
                assert sum(row) == pytest.approx(1, abs=2e-3)  # each token's attention is a distribution
                assert all(row[j] == 0 for j in range(i + 1, n))  # causal mask: nothing above the diagonal
    assert matrix[0][0] == pytest.approx(1, abs=1e-3)  # the first token can only look at itself


def test_token_labels_join_back_to_the_text(ask):
    data = ask(text="the cat sat")
    assert "".join(t["text"] for t in data["tokens"]) == "the cat sat"


def test_japanese_labels_show_the_character_a_partial_token_belongs_to(ask):
    text = "猫がマットの上に座った"
    data = ask(text=text)
    partial = [t for t in data["tokens"] if t["partial"]]
    assert partial, "the tiny vocabulary should split some characters"
    for token in data["tokens"]:
        assert token["text"] and token["text"] in text
        assert bytes.fromhex(token["bytes"]) in token["text"].encode("utf-8")
    for token in partial:
        assert len(token["text"]) == 1 and len(bytes.fromhex(token["bytes"])) < 3


def test_tokens_are_capped(ask):
    data = ask(text="the cat sat on the mat. " * 8)
    assert len(data["tokens"]) == 24 and data["truncated"] and data["total_tokens"] > 24
    assert len(data["layers"][0][0]) == 24
    assert len(ask(text="the cat sat on the mat. " * 8, max_tokens=32)["tokens"]) == 32
    assert ask(max_tokens=33, expect=400)["code"] == "bad_value"
    assert ask(text="a" * 201, expect=400)["code"] == "too_long"
