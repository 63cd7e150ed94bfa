"""Every log line the engine emits carries a code and plain parameters, and the site's
catalogue (training/logtext.py) says each one in English and Japanese. The codes are
collected from real tiny runs: a scratch run that stops early, one that overfits, one cut by
the time guard, one that trains its epochs in bf16, a LoRA run on a pretrained base, a
cancelled run resumed, and a checkpoint from other settings that is ignored.

The catalogue is Django's (gettext), so this test reads Django's translations; it needs no
database, and the engine itself still imports no Django (test_no_django.py)."""
import pytest
from django.utils import translation

from training.engine import TrainingCancelled, train
from training.logtext import LEFTOVER, LINES, say

from .test_early_stopping import SteadyClock

ENGINE_CODES = {
    "data", "base_scratch", "base_pretrained", "lora", "base_eval", "start", "start_bf16", "patience", "eval",
    "checkpoint", "checkpoint_ignored", "resumed", "overfitting", "early_stop", "stopped_time_limit",
    "stopped_max_steps", "stopped_epochs", "finishing", "done",
}


@pytest.fixture(scope="module")
def small_text(tmp_path_factory) -> str:
    from tests.factories import make_text

    path = tmp_path_factory.mktemp("small") / "small.txt"
    path.write_text(make_text(14, seed=5))
    return str(path)


def collect(config, events: list, stop_at: int | None = None) -> None:
    """Train, keeping every event; with `stop_at`, cancel at that step (a checkpoint is saved)."""
    def on_progress(progress):
        events.append(progress)
        return stop_at is not None and progress.event == "step" and progress.step == stop_at

    try:
        train(config, on_progress, clock=SteadyClock())
    except TrainingCancelled:
        pass


@pytest.fixture(scope="module")
def events(tmp_path_factory, small_text, corpus_path, tiny_base_dir):
    from training.engine import MODEL_PRESETS, TrainConfig

    from tests.factories import TINY_ARCH as TEST_ARCH

    out = tmp_path_factory.mktemp("log-codes")
    fast = {"base_kind": "scratch", "base_source": "test", "vocab_size": 400, "block_size": 32, "batch_size": 4,
            "sample_max_new_tokens": 6, "num_threads": 1, "seed": 3, "learning_rate": 3e-3,
            "checkpoint_every_seconds": 3600.0, "bf16": False}
    # A few blocks memorised at a high rate: validation loss turns up within a few dozen steps.
    memorise = {**fast, "data_path": small_text, "learning_rate": 1e-2, "val_fraction": 0.3, "batch_size": 2}

    def config(name, **values):
        return TrainConfig(**{"data_path": corpus_path, "output_dir": str(out / name), **fast, **values})

    seen = []
    MODEL_PRESETS["test"] = dict(TEST_ARCH)
    try:
        collect(config("early", **memorise, max_steps=400, eval_every_steps=5, early_stopping_patience=2), seen)
        collect(config("overfit", **memorise, max_steps=150, eval_every_steps=10), seen)
        collect(config("guard", max_steps=400, eval_every_steps=7, max_train_seconds=5.0), seen)
        collect(config("epochs", **{**memorise, "bf16": True}, max_steps=None, epochs=1.0), seen)
        collect(config("lora", base_kind="pretrained", base_source=tiny_base_dir, lora=True, lora_r=4, max_steps=3,
                       eval_every_steps=3), seen)
        # Cancelled at step 4, then resumed to the end.
        collect(config("resume", max_steps=8, eval_every_steps=8, progress_every_seconds=0.0), seen, stop_at=4)
        collect(config("resume", max_steps=8, eval_every_steps=8, checkpoint_every_steps=6), seen)
        # A checkpoint left by other settings is ignored.
        collect(config("other", max_steps=8, eval_every_steps=8, progress_every_seconds=0.0), seen, stop_at=4)
        collect(config("other", max_steps=8, eval_every_steps=8, learning_rate=1e-3), seen)
    finally:
        MODEL_PRESETS.pop("test", None)
    return seen


def test_every_line_has_a_code_and_the_runs_emit_every_engine_code(events):
    lines = [e for e in events if e.message]
    assert all(e.code for e in lines), [e.message for e in lines if not e.code]
    assert {e.code for e in lines} == ENGINE_CODES
    assert ENGINE_CODES <= set(LINES)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_emitted_line_renders_in_both_languages(events, language):
    with translation.override(language):
        for event in (e for e in events if e.message):
            text = say(event.code, event.params)  # a missing parameter raises KeyError
            assert text and not LEFTOVER.search(text), (event.code, text)
            if language == "ja":
                assert text != event.message and any("\u3040" <= c <= "\u9fff" for c in text), text


def test_parameters_are_plain_numbers_and_strings(events):
    import json

    for event in (e for e in events if e.message):
        assert json.loads(json.dumps(event.params)) == event.params
        assert all(isinstance(v, (int, float, str)) for v in event.params.values()), event.params
