"""Bits per character on held-out text, and a validation split large enough to measure it."""
import math

import pytest

from training.engine import train
from training.engine.data import (
    EVAL_MAX_TOKENS,
    VAL_MIN_TOKENS,
    eval_block_count,
    validation_blocks,
)


@pytest.mark.parametrize("count, block_size, fraction, expected", [
    (130, 128, 0.1, 26),  # a 25k-character diary: 20 % of the blocks, not 13 (and not 6)
    (1000, 128, 0.1, 157),  # 20k tokens are more than 10 %
    (10_000, 128, 0.1, 1000),  # 10 % is more than 20k tokens
    (2, 128, 0.1, 1),  # always one block left to train on
    (100, 32, 0.5, 50),  # a larger fraction asked for is honoured
])
def test_the_validation_split_is_large_enough_but_leaves_text_to_learn(count, block_size, fraction, expected):
    assert validation_blocks(count, block_size=block_size, val_fraction=fraction) == expected
    assert math.ceil(VAL_MIN_TOKENS / 128) == 157


def test_evaluation_reads_a_bounded_number_of_tokens():
    assert eval_block_count(128) * 128 == EVAL_MAX_TOKENS and eval_block_count(128, 10) == 10


def test_bits_per_character_are_the_summed_loss_in_bits_over_the_characters(make_config, test_preset):
    result = train(make_config(max_steps=6, eval_every_steps=3))
    data = result.data
    predicted = data["val_tokens"] // data["block_size"] * (data["block_size"] - 1)
    expected = result.final_val_loss * predicted / math.log(2) / data["val_chars"]
    assert result.val_bpc == pytest.approx(expected, abs=1e-3)
    # Characters of exactly the evaluated blocks: close to tokens / tokens-per-character.
    assert data["val_chars"] == pytest.approx(predicted / data["tokens_per_char"], rel=0.25)
    assert result.base_val_bpc > result.val_bpc
    assert [h["val_bpc"] for h in result.history if h["val_loss"] is not None][-1] >= result.val_bpc
