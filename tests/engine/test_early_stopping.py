"""Early stopping: a run stops when validation loss has not improved for `patience`
evaluations, keeps the best weights, and says why it stopped. Deterministic: a text of a few
blocks, memorised within a few dozen steps at a high learning rate."""
from pathlib import Path

from tests.factories import SteadyClock
from training.engine import train


def small_corpus(tmp_path):
    from tests.factories import make_text

    path = tmp_path / "small.txt"
    path.write_text(make_text(14, seed=5))
    return str(path)


def test_it_stops_when_validation_loss_stops_improving_and_keeps_the_best(make_config, test_preset, tmp_path):
    events = []
    config = make_config(data_path=small_corpus(tmp_path), max_steps=400, eval_every_steps=5, learning_rate=1e-2,
                         val_fraction=0.3, batch_size=2, early_stopping_patience=2)
    result = train(config, events.append)
    assert result.stop_reason == "early_stopping"
    assert result.steps < 400
    evaluations = [h for h in result.history if h["val_loss"] is not None]
    # Stopped at the second evaluation in a row without a new best, not later.
    best_index = next(i for i, h in enumerate(evaluations) if h["step"] == result.best_step)
    assert len(evaluations) - 1 - best_index == 2 and evaluations[-1]["step"] == result.steps
    assert all(h["val_loss"] >= result.best_val_loss for h in evaluations[best_index + 1:])
    # The exported model is the best one, and the log says why the run ended.
    assert result.final_val_loss == result.best_val_loss
    assert any(e.code == "early_stop" and e.params["step"] == result.steps and e.params["patience"] == 2
               for e in events)
    assert f"Early stop at step {result.steps}" in (tmp_path / "run" / "train.log").read_text()
    assert result.hyperparameters["early_stopping_patience"] == 2
    assert 0 < result.train_seconds <= result.seconds


def test_without_patience_it_runs_all_its_steps_and_says_so(make_config, test_preset, tmp_path):
    events = []
    result = train(make_config(max_steps=10, eval_every_steps=5), events.append)
    assert (result.steps, result.stop_reason) == (10, "max_steps")
    assert any(e.code == "stopped_max_steps" and e.params == {"step": 10} for e in events)
    train_log = Path(result.model_dir).parent / "train.log"  # the engine's own log stays English
    assert "Stopped at step 10: the maximum number of steps reached." in train_log.read_text(encoding="utf-8")


def test_a_patience_below_one_is_refused(make_config, test_preset):
    import pytest

    from training.engine import EngineError

    with pytest.raises(EngineError) as refused:
        train(make_config(early_stopping_patience=0))
    assert refused.value.code == "invalid_config"


def test_the_time_guard_ends_a_run_slower_than_planned_on_its_best_weights(make_config, test_preset):
    """Planned for 400 steps, but each step takes 0.25 s and the guard is 5 s: the run stops at
    step 20 after one last evaluation, says why, and exports the best weights seen."""
    events = []
    result = train(make_config(max_steps=400, eval_every_steps=7, max_train_seconds=5.0), events.append,
                   clock=SteadyClock())
    assert (result.steps, result.stop_reason) == (20, "time_limit")
    assert [h["step"] for h in result.history if h["val_loss"] is not None] == [7, 14, 20]
    assert result.final_val_loss == result.best_val_loss
    assert any(e.code == "stopped_time_limit" and e.params == {"step": 20, "seconds": 5.0, "best_step": result.best_step}
               and "Stopped at step 20: the training time limit of 5 s" in e.message for e in events)


def test_the_time_left_counts_the_time_guard_and_the_end_is_announced(make_config, test_preset):
    """Planned for 400 steps of 0.25 s (100 s) under a 5 s guard: the time left never promises
    more than the guard allows, and once the steps are over the engine says it is finishing
    (samples and export) with nothing left to count down."""
    events = []
    train(make_config(max_steps=400, eval_every_steps=7, max_train_seconds=5.0), events.append, clock=SteadyClock())
    timed = [e for e in events if e.event in ("step", "eval", "checkpoint")]
    assert timed and all(e.eta_seconds == round(5.0 - 0.25 * e.step, 1) for e in timed)
    ends = [e for e in events if e.event not in ("log", "step", "eval", "checkpoint")]
    assert [e.event for e in ends][-2:] == ["finishing", "done"]
    assert (ends[-2].step, ends[-2].total_steps, ends[-2].eta_seconds) == (20, 20, 0.0)


def test_a_time_guard_that_is_not_positive_is_refused(make_config, test_preset):
    import pytest

    from training.engine import EngineError

    with pytest.raises(EngineError) as caught:
        train(make_config(max_train_seconds=0))
    assert caught.value.code == "invalid_config"
