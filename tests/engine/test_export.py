"""The exported directory loads with the Auto classes and pipeline; the zip has fixed names."""
import os
import zipfile

import pytest

from training.engine import export_zip, train

FORBIDDEN = ("training_args.bin", ".bin", ".pt", ".pkl", ".pickle", "adapter_config.json")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, corpus_path):
    from training.engine import TrainConfig

    out = tmp_path_factory.mktemp("export-run")
    config = TrainConfig(data_path=corpus_path, output_dir=str(out), base_source="tiny", vocab_size=300,
                         block_size=32, batch_size=4, max_steps=4, eval_every_steps=4,
                         sample_max_new_tokens=4, num_threads=1)
    return train(config)


def test_it_loads_with_auto_classes_and_pipeline(exported):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    model = AutoModelForCausalLM.from_pretrained(exported.model_dir, local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(exported.model_dir, local_files_only=True)
    assert model.config.model_type == "gpt2" and model.config.n_layer == 4
    generator = pipeline("text-generation", model=exported.model_dir)
    text = generator("the ship", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert text.startswith("the ship") and len(tokenizer(text)["input_ids"]) > len(tokenizer("the ship")["input_ids"])


def test_it_contains_no_pickles_and_a_model_card(exported):
    names = os.listdir(exported.model_dir)
    assert not [n for n in names if n.endswith(FORBIDDEN)]
    card = open(os.path.join(exported.model_dir, "README.md"), encoding="utf-8").read()
    assert "AutoModelForCausalLM.from_pretrained" in card
    assert "trained from scratch" in card and "preset `tiny`" in card
    assert f"| validation loss | {exported.final_val_loss:.4g} |" in card
    assert '"block_size": 32' in card
    assert all(f"**Prompt:** {sample['prompt']}" in card for sample in exported.samples)


def test_the_zip_has_fixed_sorted_entry_names(exported, tmp_path):
    (tmp_path / "x").mkdir()
    os.symlink("/etc/passwd", os.path.join(exported.model_dir, "vocab.json"))  # never followed
    try:
        names = export_zip(exported.model_dir, str(tmp_path / "model.zip"))
    finally:
        os.remove(os.path.join(exported.model_dir, "vocab.json"))
    assert names == ["README.md", "config.json", "generation_config.json", "model.safetensors",
                     "tokenizer.json", "tokenizer_config.json"]
    with zipfile.ZipFile(tmp_path / "model.zip") as archive:
        assert archive.namelist() == names
        assert archive.testzip() is None
        archive.extractall(tmp_path / "unzipped")
    assert not os.path.exists(str(tmp_path / "model.zip.tmp"))

    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(str(tmp_path / "unzipped")).config.n_embd == 128


def test_the_same_model_gives_the_same_archive(exported, tmp_path):
    export_zip(exported.model_dir, str(tmp_path / "a.zip"))
    export_zip(exported.model_dir, str(tmp_path / "b.zip"))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
