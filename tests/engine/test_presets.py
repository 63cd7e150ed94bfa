"""Presets are time budgets: steps from the measured speed, an epoch cap, early stopping,
the learning rate by kind of base, and the estimate. Plain Python: no torch, no database."""
import math
import subprocess
import sys

import pytest

from training.engine.estimate import (
    estimate_seconds,
    fallback_tokens_per_second,
    parameters,
)
from training.engine.data import validation_blocks
from training.engine.presets import (
    EARLY_STOPPING_PATIENCE,
    HYPER_PRESETS,
    TIME_GUARD_FACTOR,
    default_learning_rate,
    max_epochs,
    preset_plan,
)

TINY = parameters("scratch:tiny")


def plan(preset="quick", *, tokens=200_000, speed=5_000.0, base_kind="scratch", base_source="tiny",
         params=TINY, **overrides):
    return preset_plan(preset, base_kind=base_kind, base_source=base_source, parameters=params, tokens=tokens,
                       tokens_per_second=speed, overrides=overrides)


def test_presets_are_one_five_and_twenty_minutes():
    assert {name: p["budget_seconds"] for name, p in HYPER_PRESETS.items()} == {
        "quick": 60, "standard": 300, "long": 1200}


def test_steps_are_the_budget_times_the_measured_speed():
    result = plan("quick", tokens=2_000_000, speed=4096.0)
    hyper, info = result["hyperparameters"], result["plan"]
    tokens_per_step = hyper["batch_size"] * hyper["grad_accum"] * hyper["block_size"]
    assert info["limited_by"] == "budget"
    assert hyper["max_steps"] == info["steps"] == int(60 * 4096 / tokens_per_step)
    assert info["train_seconds"] == pytest.approx(60, abs=1)
    # Twice the speed, twice the steps; the standard preset five times the quick one.
    assert plan("quick", tokens=2_000_000, speed=8192.0)["plan"]["steps"] == 2 * info["steps"]
    assert plan("standard", tokens=2_000_000, speed=4096.0)["plan"]["steps"] == 5 * info["steps"]
    assert hyper["early_stopping_patience"] == EARLY_STOPPING_PATIENCE
    assert hyper["eval_every_steps"] >= 1 and "epochs" not in hyper
    # A slower worker than measured still ends near the budget.
    assert hyper["max_train_seconds"] == 60 * TIME_GUARD_FACTOR


def test_a_small_text_is_capped_in_passes_not_memorised():
    fast = plan("long", tokens=10_000, speed=50_000.0)["plan"]
    assert fast["limited_by"] == "epoch_cap"
    assert fast["steps"] < fast["budget_steps"]
    assert fast["epochs"] <= fast["max_epochs"] + 1


def test_the_cap_on_passes_shrinks_as_the_model_grows_relative_to_the_text():
    assert max_epochs(tokens=10_000, parameters=TINY) > max_epochs(tokens=10_000, parameters=parameters("gpt2"))
    assert max_epochs(tokens=10_000, parameters=TINY) < max_epochs(tokens=1_000_000, parameters=TINY)
    assert 2 <= max_epochs(tokens=1, parameters=10**9) and max_epochs(tokens=10**12, parameters=1) <= 100


def test_max_steps_wins_over_epochs_and_either_replaces_the_budget():
    chosen = plan(max_steps=7, epochs=3)
    assert (chosen["hyperparameters"]["max_steps"], chosen["plan"]["limited_by"]) == (7, "max_steps")
    assert "max_train_seconds" not in chosen["hyperparameters"]  # the student's own limit is not cut by time
    by_epochs = plan(epochs=2, tokens=100_000)
    hyper = by_epochs["hyperparameters"]
    blocks = 100_000 // hyper["block_size"]
    train = blocks - validation_blocks(blocks, block_size=hyper["block_size"], val_fraction=0.1)
    assert by_epochs["plan"]["limited_by"] == "epochs" and hyper["epochs"] == 2
    # Counted as the engine counts an epoch: steps of batch x accumulation training blocks.
    assert by_epochs["plan"]["steps"] == math.ceil(2 * math.ceil(train / (hyper["batch_size"] * hyper["grad_accum"])))
    assert "max_steps" not in hyper  # the engine counts the epochs over the real blocks


def test_each_kind_of_base_gets_its_own_learning_rate_batch_and_warm_up():
    scratch = plan()["hyperparameters"]
    tuned = plan(base_kind="pretrained", base_source="gpt2", params=parameters("gpt2"))["hyperparameters"]
    lora = plan(base_kind="pretrained", base_source="gpt2", params=parameters("gpt2"), lora=True)["hyperparameters"]
    assert scratch["learning_rate"] >= 1e-3 and scratch["warmup_ratio"] <= 0.05
    assert tuned["learning_rate"] == 5e-5 and lora["learning_rate"] == 3e-4 and lora["lora"] is True
    assert tuned["grad_accum"] > 1  # a larger effective batch without more blocks in memory
    assert default_learning_rate("scratch", "small") < default_learning_rate("scratch", "tiny")
    assert plan(learning_rate=0.004)["hyperparameters"]["learning_rate"] == 0.004


def test_a_small_text_gets_a_smaller_batch():
    assert plan(tokens=3_000)["hyperparameters"]["batch_size"] < plan(tokens=300_000)["hyperparameters"]["batch_size"]
    assert plan(tokens=3_000, batch_size=16)["hyperparameters"]["batch_size"] == 16  # the student's value stays


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValueError):
        plan("turbo")


def test_the_estimate_follows_the_measured_speed():
    slow = estimate_seconds(50_000, base="scratch:tiny", max_steps=100, tokens_per_second=1_000)
    fast = estimate_seconds(50_000, base="scratch:tiny", max_steps=100, tokens_per_second=10_000)
    assert slow > fast > 0
    steps_part = 100 * 8 * 128 * (1 / 1_000 - 1 / 10_000)
    assert steps_part <= slow - fast < 1.5 * steps_part  # the steps, plus the evaluations between them
    guessed = estimate_seconds(50_000, base="scratch:tiny", max_steps=100)
    assert guessed == estimate_seconds(50_000, base="scratch:tiny", max_steps=100,
                                       tokens_per_second=fallback_tokens_per_second("scratch:tiny"))
    assert fallback_tokens_per_second("gpt2") < fallback_tokens_per_second("scratch:small") < \
        fallback_tokens_per_second("scratch:tiny")


def test_planning_and_estimating_never_load_torch():
    code = ("import sys; from training.engine.presets import preset_plan; "
            "from training.engine.estimate import estimate_seconds, parameters; "
            "p = preset_plan('quick', base_kind='scratch', base_source='tiny', parameters=parameters('scratch:tiny'), "
            "tokens=10000, tokens_per_second=1000); estimate_seconds(10000, base='gpt2', max_steps=5); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
