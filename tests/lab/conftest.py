"""Lab fixtures: tiny real models on disk (built once per session, no network) and
succeeded runs whose export directory points at them."""
import shutil
from pathlib import Path

import pytest

from tests.factories import build_tiny_gpt2, gpt2_tokenizer_from, make_user, save_tiny_gpt2

CORPUS = (["the cat sat on the mat and the dog sat on the log.", "once upon a time a ship sailed over the sea.",
           "東京メトロに乗って猫カフェへ行く。", "昔々、あるところにおじいさんとおばあさんが住んでいました。",
           "今日は朝から雨が降っていた。駅まで歩いて猫に会った。"] * 40)


@pytest.fixture(scope="session")
def scratch_model_dir(tmp_path_factory) -> str:
    """A from-scratch-like model: its own byte-level BPE trained on a small mixed corpus."""
    return build_tiny_gpt2(tmp_path_factory.mktemp("lab-scratch"), CORPUS, vocab_size=500)


@pytest.fixture(scope="session")
def gpt2_vocab_model_dir(tmp_path_factory) -> str:
    """A model with the real GPT-2 vocabulary, like a fine-tuned GPT-2 (tiny layers)."""
    from training.engine import gpt2_tokenizer_dir

    root = tmp_path_factory.mktemp("lab-gpt2")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(Path(gpt2_tokenizer_dir()) / name, root / name)
    return save_tiny_gpt2(root / "model", gpt2_tokenizer_from(root))


@pytest.fixture(autouse=True)
def inference(inference_worker):
    """Every lab test has the session's inference worker (tests/conftest.py)."""
    return inference_worker


@pytest.fixture
def runs_dir(settings, tmp_path):
    settings.TRAINING_RUNS_DIR = tmp_path / "runs"
    return settings.TRAINING_RUNS_DIR


@pytest.fixture
def make_lab_run(runs_dir, scratch_model_dir):
    """make_lab_run(owner, status="succeeded", model_dir=None, **fields): a run whose export
    directory is a link to a tiny model (succeeded runs only)."""
    from training.models import TrainingRun

    def make(owner, *, status=TrainingRun.SUCCEEDED, model_dir=None, **fields):
        succeeded = status == TrainingRun.SUCCEEDED
        active = status in TrainingRun.ACTIVE
        fields.setdefault("active_slot", 0 if active else None)
        run = TrainingRun.objects.create(owner=owner, status=status, published_attempt=1 if succeeded else None,
                                         **fields)
        if succeeded:
            run.attempt_dir(1).mkdir(parents=True, exist_ok=True)
            (run.attempt_dir(1) / "export").symlink_to(model_dir or scratch_model_dir, target_is_directory=True)
        return run

    return make


@pytest.fixture
def dave(db):
    """The instructor who owns the site's demo run."""
    return make_user("dave", instructor=True)


@pytest.fixture
def demo_run(make_lab_run, dave):
    return make_lab_run(dave, is_demo=True, name="Demo")


@pytest.fixture
def alice_run(make_lab_run, alice):
    return make_lab_run(alice, name="alice-model")


def api(client, name, expect=None, **params):
    """POST to a lab API (as lab.js does for the ones that send text); the response."""
    from django.urls import reverse

    response = client.post(reverse(name), params)
    if expect is not None:
        assert response.status_code == expect, response.content[:500]
    return response


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]
