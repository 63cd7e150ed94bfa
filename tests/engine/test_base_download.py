"""download_base_model with the Hub replaced at its edge (tests/conftest.py FakeHub): the real
code fetches, converts a pickle-only repository once with torch.load(weights_only=True), and
workers then find the model offline."""
import os
import shutil
import warnings

import pytest

from training.engine import BaseModelMissing, EngineError, download_base_model, is_base_present, train
from training.engine.bases import resolve_pretrained

from .conftest import file_names

HUB_ID = "rinna/japanese-gpt2-small"


def logits_of(directory, ids=(7, 19, 9, 10)):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(directory), use_safetensors=True)
    with torch.no_grad():
        return model(input_ids=torch.tensor([list(ids)])).logits


def test_a_safetensors_repository_is_cached_and_used_offline(fake_hub, rinna_standin_dir, make_config, tmp_path):
    fake_hub.add(HUB_ID, rinna_standin_dir)
    cache = str(tmp_path / "models")
    assert not is_base_present(HUB_ID, cache_dir=cache)
    path = download_base_model(HUB_ID, cache_dir=cache)
    assert file_names(path) == file_names(rinna_standin_dir)  # spiece.model included
    assert [patterns for _, patterns in fake_hub.calls] == [tuple(
        ["*.json", "*.safetensors", "merges.txt", "vocab.json", "*.model", "*.txt", "README.md"])]
    assert is_base_present(HUB_ID, cache_dir=cache)
    calls = len(fake_hub.calls)
    result = train(make_config(base_kind="pretrained", base_source=HUB_ID, cache_dir=cache, offline=True,
                               max_steps=2, eval_every_steps=2, sample_prompts=["今日"]))
    assert len(fake_hub.calls) == calls  # the run never downloads
    assert result.data["vocab_size"] == 600


def test_a_pickle_only_repository_is_converted_once(fake_hub, rinna_pickled_dir, rinna_standin_dir, tmp_path,
                                                     monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM

    fake_hub.add(HUB_ID, rinna_pickled_dir)
    cache = str(tmp_path / "models")
    loads = []
    real_load = torch.load

    def spy(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = download_base_model(HUB_ID, cache_dir=cache)
    assert loads == [True]
    # The pickle was fetched only because there were no safetensors, and is gone after conversion.
    assert [patterns for _, patterns in fake_hub.calls][1] == ("pytorch_model.bin",)
    assert "model.safetensors" in file_names(path) and "pytorch_model.bin" not in file_names(path)
    blobs = os.path.realpath(os.path.join(path, "..", "..", "blobs"))
    linked = {os.path.realpath(os.path.join(path, name)) for name in os.listdir(path)}
    assert {os.path.join(blobs, name) for name in os.listdir(blobs)} <= linked  # nor its blob
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, info = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # still tied
    assert torch.equal(logits_of(path), logits_of(rinna_standin_dir))  # the same weights as the original
    stamp = os.stat(os.path.join(path, "model.safetensors"))
    # A second download finds the converted file and converts nothing.
    assert download_base_model(HUB_ID, cache_dir=cache) == path
    assert loads == [True] and len(fake_hub.calls) == 3
    again = os.stat(os.path.join(path, "model.safetensors"))
    assert (again.st_ino, again.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    assert is_base_present(HUB_ID, cache_dir=cache)


def test_a_local_pickle_only_directory_is_converted_in_place(rinna_pickled_dir, tmp_path):
    directory = tmp_path / "my-model"
    shutil.copytree(rinna_pickled_dir, directory)
    assert not is_base_present(str(directory))
    with pytest.raises(BaseModelMissing) as caught:
        resolve_pretrained(str(directory), cache_dir=None, offline=True)
    assert f"python manage.py download_base_model {directory}" in str(caught.value)
    assert download_base_model(str(directory)) == str(directory)
    assert {"model.safetensors", "pytorch_model.bin"} <= file_names(directory)  # the owner's file stays
    assert is_base_present(str(directory))
    assert resolve_pretrained(str(directory), cache_dir=None, offline=True) == str(directory)


def test_a_pickle_that_runs_code_is_refused(tmp_path, rinna_pickled_dir):
    """torch.load(weights_only=True) refuses globals; a full unpickle would have run this payload."""
    import pickle

    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    directory = tmp_path / "evil"
    shutil.copytree(rinna_pickled_dir, directory)
    with open(directory / "pytorch_model.bin", "wb") as f:
        pickle.dump({"transformer.wte.weight": Payload()}, f, protocol=2)
    with pytest.raises(EngineError) as caught:
        download_base_model(str(directory))
    assert caught.value.code == "unsafe_weights"
    assert not marker.exists() and not (directory / "model.safetensors").exists()
    pickle.loads((directory / "pytorch_model.bin").read_bytes())  # the payload is real: a full unpickle runs it
    assert marker.exists()


def test_a_repository_without_weights_is_refused(fake_hub, rinna_standin_dir, tmp_path):
    tokenizer_only = tmp_path / "tokenizer-only"
    tokenizer_only.mkdir()
    for name in ("config.json", "spiece.model", "tokenizer_config.json"):
        shutil.copy(rinna_standin_dir / name, tokenizer_only / name)
    fake_hub.add("school/no-weights", tokenizer_only)
    with pytest.raises(EngineError) as caught:
        download_base_model("school/no-weights", cache_dir=str(tmp_path / "models"))
    assert caught.value.code == "no_safetensors"
    with pytest.raises(EngineError) as caught:
        download_base_model("school/absent", cache_dir=str(tmp_path / "models"))
    assert caught.value.code == "download_failed"
