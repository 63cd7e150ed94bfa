"""One real (tiny) run per base kind: from scratch, a local pretrained directory, a previous run."""
import json
import math
import os

import pytest

from training.engine import (
    BaseModelMissing, EngineError, MODEL_PRESETS, download_base_model, is_base_present, train,
)

from .conftest import file_names

EXPORT = {"README.md", "config.json", "generation_config.json", "model.safetensors",
          "tokenizer.json", "tokenizer_config.json"}


def test_a_scratch_run_trains_a_tokenizer_and_learns(make_config, test_preset):
    events = []
    result = train(make_config(max_steps=30, eval_every_steps=10), events.append)
    assert file_names(result.model_dir) == EXPORT
    assert result.final_val_loss < result.base_val_loss - 0.5  # it learned something
    assert result.base_perplexity == pytest.approx(math.exp(result.base_val_loss), rel=1e-3)
    assert result.steps == 30 and result.tokens_seen == 30 * 4 * 32
    assert result.data["vocab_size"] <= 400 and result.data["train_blocks"] > 0
    assert [e.event for e in events if e.event != "log"][0] == "start"
    assert events[-1].event == "done"
    evals = [e for e in events if e.event == "eval"]
    assert [e.step for e in evals] == [10, 20, 30]
    assert all(e.val_loss is not None and e.tokens_per_second > 0 for e in evals)
    assert [h["step"] for h in result.history if h["val_loss"] is not None] == [10, 20, 30]
    # The prompts are beginnings of lines of the student's own text (3 by default).
    lines = open(make_config().data_path, encoding="utf-8").read().split("\n")
    assert len(result.samples) == 3
    assert all(any(line.startswith(s["prompt"]) for line in lines) for s in result.samples)
    assert 0 < result.val_bpc < result.base_val_bpc
    assert all(h["val_bpc"] > 0 for h in result.history if h["val_loss"] is not None)
    assert all(e.val_bpc is not None for e in evals)
    assert all(s["base"] != s["tuned"] for s in result.samples)
    assert json.dumps(result.to_dict(), ensure_ascii=False)
    assert not os.path.exists(os.path.join(os.path.dirname(result.model_dir), "checkpoints"))
    assert "validation loss" in open(os.path.join(os.path.dirname(result.model_dir), "train.log")).read()


def test_the_tiny_preset_builds_its_architecture(make_config):
    from transformers import AutoConfig

    result = train(make_config(base_source="tiny", max_steps=2, eval_every_steps=2, vocab_size=300))
    config = AutoConfig.from_pretrained(result.model_dir)
    assert (config.n_embd, config.n_layer) == (MODEL_PRESETS["tiny"]["n_embd"], MODEL_PRESETS["tiny"]["n_layer"])


def test_a_run_is_reproducible_with_the_same_seed(make_config, test_preset, tmp_path):
    first = train(make_config(output_dir=str(tmp_path / "a"), max_steps=6))
    second = train(make_config(output_dir=str(tmp_path / "b"), max_steps=6))
    assert first.final_val_loss == pytest.approx(second.final_val_loss, abs=1e-6)
    assert first.samples == second.samples


def test_it_fine_tunes_a_local_pretrained_directory(make_config, tiny_base_dir):
    result = train(make_config(base_kind="pretrained", base_source=tiny_base_dir, max_steps=12))
    assert result.final_val_loss < result.base_val_loss
    assert result.data["vocab_size"] == json.load(open(os.path.join(tiny_base_dir, "config.json")))["vocab_size"]
    assert file_names(result.model_dir) == EXPORT


def test_a_scratch_export_is_the_base_of_a_new_run(make_config, test_preset, tmp_path):
    first = train(make_config(output_dir=str(tmp_path / "first"), max_steps=12))
    # The run may be named by its output_dir or its export dir.
    for source in (first.model_dir, str(tmp_path / "first")):
        second = train(make_config(output_dir=str(tmp_path / "second"), base_kind="run",
                                   base_source=source, max_steps=6, learning_rate=1e-3))
        assert second.base_val_loss == pytest.approx(first.final_val_loss, abs=0.05)
        assert second.final_val_loss <= second.base_val_loss + 0.01
        os.rename(str(tmp_path / "second"), str(tmp_path / f"second-{len(source)}"))


def test_a_missing_hub_model_names_the_command_that_caches_it(make_config, tmp_path):
    with pytest.raises(BaseModelMissing) as caught:
        train(make_config(base_kind="pretrained", base_source="gpt2", cache_dir=str(tmp_path / "hub")))
    assert caught.value.code == "base_missing"
    assert "python manage.py download_base_model gpt2" in str(caught.value)
    assert caught.value.params["source"] == "gpt2"


def test_a_missing_run_directory_is_reported(make_config, tmp_path):
    with pytest.raises(BaseModelMissing):
        train(make_config(base_kind="run", base_source=str(tmp_path)))


def test_is_base_present(tiny_base_dir, tmp_path):
    assert is_base_present(tiny_base_dir, cache_dir=str(tmp_path))
    assert not is_base_present(str(tmp_path), cache_dir=str(tmp_path))
    assert not is_base_present("gpt2", cache_dir=str(tmp_path))
    assert not is_base_present("not a valid id!", cache_dir=str(tmp_path))


def test_a_cached_hub_snapshot_is_used_offline(make_config, tiny_base_dir, tmp_path):
    """The layout huggingface_hub writes (models--org--name/snapshots/<rev>, refs/main)."""
    import shutil

    repo = tmp_path / "hub" / "models--school--tiny-gpt2"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    shutil.copytree(tiny_base_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    assert is_base_present("school/tiny-gpt2", cache_dir=str(tmp_path / "hub"))
    result = train(make_config(base_kind="pretrained", base_source="school/tiny-gpt2",
                               cache_dir=str(tmp_path / "hub"), max_steps=2, eval_every_steps=2))
    assert os.path.isfile(os.path.join(result.model_dir, "model.safetensors"))


def test_download_fails_clearly_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError) as caught:
        download_base_model("school/does-not-exist", cache_dir=str(tmp_path))
    assert caught.value.code == "download_failed"


def test_other_architectures_are_refused(make_config, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path / "llama"
    LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, vocab_size=300)).save_pretrained(str(directory))
    with pytest.raises(EngineError) as caught:
        train(make_config(base_kind="pretrained", base_source=str(directory)))
    assert caught.value.code == "unsupported_model"


@pytest.mark.parametrize("overrides, problem", [
    ({"block_size": 4}, "block_size"),
    ({"base_kind": "magic"}, "base_kind"),
    ({"lora": True}, "LoRA"),
    ({"max_steps": None, "epochs": 0}, "epochs"),
    ({"val_fraction": 0.9}, "val_fraction"),
])
def test_it_refuses_invalid_settings(make_config, overrides, problem):
    with pytest.raises(EngineError) as caught:
        train(make_config(**overrides))
    assert caught.value.code == "invalid_config"
    assert problem in str(caught.value)


def test_a_block_longer_than_the_base_context_is_refused(make_config, tiny_base_dir):
    with pytest.raises(EngineError) as caught:
        train(make_config(base_kind="pretrained", base_source=tiny_base_dir, block_size=128))
    assert caught.value.params == {"block_size": 128, "n_positions": 64}


def test_a_corpus_too_small_for_training_is_refused(make_config, tmp_path):
    from training.engine import DatasetError

    path = tmp_path / "tiny.txt"
    path.write_text("a short text that gives no block at all")
    with pytest.raises(DatasetError) as caught:
        train(make_config(data_path=str(path), base_source="tiny", block_size=64))
    assert caught.value.code == "too_small"
