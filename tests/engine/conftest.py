"""Fixtures for engine tests: a small corpus file and a tiny from-scratch preset (the tiny
GPT-2 base directory, `tiny_base_dir`, is in tests/conftest.py). No database, no network."""
from pathlib import Path

import pytest

from tests.factories import TINY_ARCH, make_text
from training.engine import MODEL_PRESETS, TrainConfig


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("corpus") / "mixed.txt"
    path.write_text(make_text(300), encoding="utf-8")
    return str(path)


@pytest.fixture
def test_preset(monkeypatch) -> str:
    """A from-scratch preset as small as the tiny base, for fast scratch runs."""
    monkeypatch.setitem(MODEL_PRESETS, "test", dict(TINY_ARCH))
    return "test"


@pytest.fixture
def make_config(tmp_path, corpus_path):
    """TrainConfig with fast test values; keyword arguments override them."""
    def make(**overrides) -> TrainConfig:
        values = dict(data_path=corpus_path, output_dir=str(tmp_path / "run"), base_kind="scratch",
                      base_source="test", vocab_size=400, block_size=32, batch_size=4, max_steps=12,
                      eval_every_steps=6, sample_max_new_tokens=6, num_threads=1, seed=3,
                      learning_rate=3e-3,
                      # Checkpoints by step only: one by time would land where a slow machine is.
                      checkpoint_every_seconds=3600.0)
        values.update(overrides)
        return TrainConfig(**values)

    return make


def file_names(directory) -> set[str]:
    return {p.name for p in Path(directory).iterdir()}
