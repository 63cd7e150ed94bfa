"""Fixtures for engine tests: small corpora, a tiny GPT-2 base directory (GPT2Config saved
with save_pretrained and a tokenizer trained on the fly), and a tiny from-scratch preset.
No database, no network."""
import random
from pathlib import Path

import pytest

from training.engine import MODEL_PRESETS, TrainConfig

EN_WORDS = ("the ship sailed over the grey sea while the cook sang about salt wind and rain "
            "and the captain wrote in his log that the night was calm").split()
JA_SENTENCES = ["今日は朝から雨が降っていた。", "駅まで歩いて猫に会った。", "夕飯にカレーを作った。",
                "図書館で本を三冊借りた。", "夜は静かで月がきれいだった。"]

# Tests stay fast with this architecture (n_embd 32, 2 layers): about 40k parameters.
TEST_ARCH = {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 64}


def make_text(lines: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    rows = []
    for i in range(lines):
        if i % 3 == 2:
            rows.append("".join(rng.choice(JA_SENTENCES) for _ in range(2)))
        else:
            rows.append(" ".join(rng.choice(EN_WORDS) for _ in range(12)) + ".")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("corpus") / "mixed.txt"
    path.write_text(make_text(300), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> str:
    """A pretrained-looking GPT-2 directory: config.json, model.safetensors, tokenizer files."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    directory = tmp_path_factory.mktemp("tiny-gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([make_text(200, seed=1)], vocab_size=400, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    raw = directory / "raw-tokenizer"
    raw.mkdir()
    bpe.save_model(str(raw))
    tokenizer = GPT2TokenizerFast.from_pretrained(str(raw))
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = "<|endoftext|>"
    model_dir = directory / "model"
    tokenizer.save_pretrained(str(model_dir))
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **TEST_ARCH)
    GPT2LMHeadModel(config).save_pretrained(str(model_dir))
    return str(model_dir)


@pytest.fixture
def test_preset(monkeypatch) -> str:
    """A from-scratch preset as small as the tiny base, for fast scratch runs."""
    monkeypatch.setitem(MODEL_PRESETS, "test", dict(TEST_ARCH))
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
