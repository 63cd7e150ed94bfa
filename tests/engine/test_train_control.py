"""Cancellation, checkpoints, resuming after an interruption, overfitting warnings."""
import os

import pytest

from tests.factories import SteadyClock
from training.engine import TrainingCancelled, train
from training.engine.checkpoints import latest_checkpoint

from .conftest import file_names


class Crash(Exception):
    """Stands in for a worker killed mid-run."""


def test_cancel_stops_within_one_step(make_config, test_preset):
    seen = []

    def on_progress(progress):
        seen.append(progress)
        return progress.event == "step" and progress.step >= 3

    config = make_config(max_steps=200, progress_every_seconds=0.0, eval_every_steps=1000)
    with pytest.raises(TrainingCancelled) as caught:
        train(config, on_progress)
    assert caught.value.code == "cancelled"
    asked_at = next(p.step for p in seen if p.event == "step" and p.step >= 3)
    assert caught.value.params["step"] == asked_at
    assert max(p.step for p in seen) == asked_at
    assert not os.path.exists(os.path.join(config.output_dir, "export"))
    # The engine saved where it stopped, so the run can be resumed later.
    assert latest_checkpoint(os.path.join(config.output_dir, "checkpoints")).endswith(f"step-{asked_at:08d}")


def test_cancel_during_set_up_stops_before_training(make_config, test_preset):
    steps = []

    def on_progress(progress):
        steps.append(progress.event)
        return progress.event == "log"

    with pytest.raises(TrainingCancelled):
        train(make_config(), on_progress)
    assert "step" not in steps and "eval" not in steps


def test_resume_after_a_crash_reaches_the_same_loss(make_config, test_preset, tmp_path):
    uninterrupted = train(make_config(output_dir=str(tmp_path / "whole"), max_steps=24))

    def crash_at_step_17(progress):
        if progress.step >= 17:
            raise Crash()

    config = make_config(output_dir=str(tmp_path / "broken"), max_steps=24, checkpoint_every_steps=5,
                         progress_every_seconds=0.0)
    with pytest.raises(Crash):
        train(config, crash_at_step_17)
    checkpoints = os.path.join(config.output_dir, "checkpoints")
    assert file_names(checkpoints) == {"step-00000015"}  # complete, no temporary leftovers

    events = []
    resumed = train(config, events.append)
    assert [e.step for e in events if e.event == "start"] == [15]
    assert resumed.steps == 24 and resumed.tokens_seen == uninterrupted.tokens_seen
    assert resumed.final_val_loss == pytest.approx(uninterrupted.final_val_loss, abs=1e-3)
    assert resumed.base_val_loss == uninterrupted.base_val_loss
    assert [h["step"] for h in resumed.history if h["val_loss"] is not None] == [6, 12, 18, 24]


def test_resume_after_cancel_continues_the_run(make_config, test_preset, tmp_path):
    uninterrupted = train(make_config(output_dir=str(tmp_path / "whole"), max_steps=12))
    config = make_config(output_dir=str(tmp_path / "cancelled"), max_steps=12, progress_every_seconds=0.0)
    with pytest.raises(TrainingCancelled):
        train(config, lambda p: p.event == "step" and p.step == 8)
    resumed = train(config)
    assert resumed.final_val_loss == pytest.approx(uninterrupted.final_val_loss, abs=1e-3)


def test_a_checkpoint_from_other_settings_is_not_resumed(make_config, test_preset):
    config = make_config(max_steps=12, progress_every_seconds=0.0)
    with pytest.raises(TrainingCancelled):
        train(config, lambda p: p.event == "step" and p.step == 4)
    events = []
    train(make_config(max_steps=12, learning_rate=1e-3), events.append)
    assert [e.step for e in events if e.event == "start"] == [0]
    assert any("ignored" in e.message for e in events)


def test_progress_carries_speed_eta_and_learning_rate(make_config, test_preset):
    events = []
    config = make_config(max_steps=10, progress_every_seconds=0.0, eval_every_steps=5, warmup_ratio=0.2)
    result = train(config, events.append, clock=SteadyClock())
    steps = [e for e in events if e.event == "step"]
    assert [e.step for e in steps] == [1, 2, 3, 4, 6, 7, 8, 9]
    assert all(e.total_steps == 10 and e.tokens_per_second > 0 and e.train_loss > 0 for e in steps)
    etas = [e.eta_seconds for e in steps]
    assert etas == sorted(etas, reverse=True) and etas[0] > etas[-1] > 0
    assert steps[0].learning_rate < steps[1].learning_rate  # warming up
    assert steps[-1].learning_rate < steps[3].learning_rate  # cosine decay
    assert result.seconds > 0


def test_checkpoints_follow_the_clock_not_the_machine(make_config, test_preset):
    """checkpoint_every_seconds is measured on the clock the run is given."""
    events = []
    config = make_config(max_steps=12, checkpoint_every_seconds=1.0, progress_every_seconds=0.0,
                         eval_every_steps=100)
    train(config, events.append, clock=SteadyClock())
    saved = [e.step for e in events if e.event == "checkpoint"]
    # The steady clock moves 0.25 s a reading and each step reads it a fixed number of times:
    # checkpoints land at a fixed cadence, the same on every machine.
    assert saved and saved == list(range(saved[0], 12, saved[0]))


def test_it_warns_when_validation_loss_rises_while_training_loss_falls(make_config, test_preset, tmp_path):
    """Memorising 3 blocks: training loss keeps falling, validation loss turns up."""
    from tests.factories import make_text

    path = tmp_path / "small.txt"
    path.write_text(make_text(14, seed=5))
    events = []
    result = train(make_config(data_path=str(path), max_steps=150, eval_every_steps=10, learning_rate=1e-2,
                               val_fraction=0.3, batch_size=2), events.append)
    assert result.overfitting
    assert any("overfitting" in e.message for e in events)
    assert result.best_step < result.steps
    # The export holds the best weights, not the overfitted last ones.
    last_val = [h["val_loss"] for h in result.history if h["val_loss"] is not None][-1]
    assert result.final_val_loss == result.best_val_loss < last_val


def test_gradient_accumulation_equals_a_bigger_batch(make_config, monkeypatch, tmp_path):
    """Without dropout, 2 x 2 accumulated blocks give the same updates as batches of 4."""
    from tests.factories import TINY_ARCH
    from training.engine import MODEL_PRESETS

    monkeypatch.setitem(MODEL_PRESETS, "nodrop", {**TINY_ARCH, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
                                                  "attn_pdrop": 0.0})
    whole = train(make_config(output_dir=str(tmp_path / "a"), base_source="nodrop", batch_size=4, bf16=False))
    accumulated = train(make_config(output_dir=str(tmp_path / "b"), base_source="nodrop", batch_size=2,
                                    grad_accum=2, bf16=False))
    assert accumulated.tokens_seen == whole.tokens_seen
    assert accumulated.final_val_loss == pytest.approx(whole.final_val_loss, abs=1e-4)
    halved = train(make_config(output_dir=str(tmp_path / "c"), base_source="nodrop", batch_size=2, bf16=False))
    assert halved.final_val_loss != pytest.approx(whole.final_val_loss, abs=1e-4)


def test_a_new_vocabulary_size_trains_a_new_tokenizer_in_the_same_output_dir(make_config, test_preset):
    # vocab_size bounds the merges; the 256 byte tokens and the frequent characters always stay.
    first = train(make_config(vocab_size=330, max_steps=2, eval_every_steps=2))
    second = train(make_config(vocab_size=400, max_steps=2, eval_every_steps=2))
    assert first.data["vocab_size"] <= 330 < second.data["vocab_size"]


def test_an_epoch_is_the_training_blocks_over_batch_times_accumulation(make_config, test_preset):
    """The presets, lesson 5 and the engine count an epoch the same way."""
    import math

    result = train(make_config(max_steps=None, epochs=1.5, batch_size=2, grad_accum=3, eval_every_steps=1000))
    assert result.steps == math.ceil(1.5 * math.ceil(result.data["train_blocks"] / 6))
