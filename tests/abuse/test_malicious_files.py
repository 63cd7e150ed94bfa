"""Files that would run code if loaded: pickles planted where the engine reads checkpoints,
base models or a run's model, and stray files in an export folder. None is ever executed
(a sentinel file proves it) and the download archive only ever holds its fixed names."""
import os
import pickle
import zipfile
from pathlib import Path

import pytest

from tests.factories import build_tiny_gpt2


class Payload:
    """Unpickling this runs `touch <sentinel>`."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def plant(path, sentinel):
    with open(path, "wb") as f:
        pickle.dump(Payload(sentinel), f)


def tiny_model_dir(directory) -> Path:
    """A real tiny GPT-2 export (safetensors) with a tokenizer, as a run would publish it."""
    return Path(build_tiny_gpt2(directory, ["the cat sat on the mat " * 50], vocab_size=300))


def test_a_planted_optimizer_pickle_is_refused_on_resume(tmp_path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from training.engine import checkpoints

    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=16))
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    path = checkpoints.save_checkpoint(str(tmp_path / "checkpoints"), model=model, optimizer=optimizer,
                                       scheduler=scheduler, state={"step": 3})
    sentinel = tmp_path / "pwned"
    plant(os.path.join(path, checkpoints.OPTIMIZER), sentinel)
    with pytest.raises(pickle.UnpicklingError):
        checkpoints.load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
    assert not sentinel.exists()


def test_a_base_model_with_only_a_pickled_checkpoint_is_never_loaded(tmp_path):
    from training.engine import EngineError
    from training.engine.bases import load_pretrained

    model_dir = tiny_model_dir(tmp_path)
    (model_dir / "model.safetensors").unlink()
    sentinel = tmp_path / "pwned"
    plant(model_dir / "pytorch_model.bin", sentinel)
    with pytest.raises((OSError, EngineError, ValueError)):
        load_pretrained(str(model_dir), "local")
    assert not sentinel.exists()


def test_the_playground_never_loads_a_pickled_model(tmp_path):
    from training.engine import EngineError, generate

    model_dir = tiny_model_dir(tmp_path)
    (model_dir / "model.safetensors").unlink()
    sentinel = tmp_path / "pwned"
    plant(model_dir / "pytorch_model.bin", sentinel)
    with pytest.raises((OSError, EngineError, ValueError)):
        generate(str(model_dir), "the cat", max_new_tokens=3)
    assert not sentinel.exists()


def test_the_archive_holds_only_its_fixed_names(tmp_path):
    from training.engine import export_zip
    from training.engine.export import EXPORT_FILES

    model_dir = tiny_model_dir(tmp_path)
    plant(model_dir / "evil.pkl", tmp_path / "never")
    (model_dir / "notes.txt").write_text("stray")
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "x.txt").write_text("stray")
    os.symlink("/etc/passwd", model_dir / "passwd")
    names = export_zip(str(model_dir), str(tmp_path / "out.zip"))
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert sorted(archive.namelist()) == sorted(names)
        assert set(names) <= set(EXPORT_FILES)
        assert {"config.json", "model.safetensors"} <= set(names)
        assert all("/" not in n and ".." not in n for n in names)
