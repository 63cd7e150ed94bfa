"""Fixtures for the training app: private media/model folders per test (the worker
processes see them too), base models, a corpus, a tiny local GPT-2 base directory, and fast
run settings passed through the run's hyperparameters (never a mock of the engine)."""
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

EN_WORDS = ("the ship sailed over the grey sea while the cook sang about salt wind and rain and the captain "
            "wrote in his log that the night was calm and the stars were bright above the harbour").split()
JA_SENTENCES = ["今日は朝から雨が降っていた。", "駅まで歩いて猫に会った。", "夕飯にカレーを作った。",
                "図書館で本を三冊借りた。", "夜は静かで月がきれいだった。", "今日の一句　春の風"]

# Fast values for real training in tests: tiny vocabulary, frequent reports, one thread, and
# checkpoints by step only (a checkpoint by time would land where a slow machine happens to be).
FAST = {"vocab_size": 300, "block_size": 32, "batch_size": 4, "eval_every_steps": 5, "sample_max_new_tokens": 8,
        "num_threads": 1, "progress_every_seconds": 0.2, "checkpoint_every_seconds": 3600}


def make_text(lines: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    rows = []
    for i in range(lines):
        if i % 3 == 2:
            rows.append("".join(rng.choice(JA_SENTENCES) for _ in range(2)))
        else:
            rows.append(" ".join(rng.choice(EN_WORDS) for _ in range(12)) + ".")
    return "\n".join(rows) + "\n"


@pytest.fixture
def alice(db):
    """English by default here, so assertions can read the English msgids; see test_i18n for Japanese."""
    from tests.conftest import make_user

    return make_user("alice", preferred_language="en")


@pytest.fixture
def bob(db):
    from tests.conftest import make_user

    return make_user("bob", preferred_language="en")


@pytest.fixture(autouse=True)
def private_dirs(settings, tmp_path):
    """Each test gets its own MEDIA_ROOT and MODELS_DIR; start_worker passes them on."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODELS_DIR = tmp_path / "models"
    settings.MEDIA_ROOT.mkdir()
    settings.MODELS_DIR.mkdir()
    return settings


@pytest.fixture
def bases(db):
    from training.models import BaseModel

    tiny = BaseModel.objects.create(key="tiny", name="Tiny GPT", kind=BaseModel.SCRATCH, source="tiny",
                                    max_block_size=256, order=1)
    gpt2 = BaseModel.objects.create(key="gpt2", name="GPT-2", kind=BaseModel.PRETRAINED, source="gpt2",
                                    max_block_size=1024, order=10)
    return {"tiny": tiny, "gpt2": gpt2}


def upload(name="corpus.txt", content: bytes | None = None):
    return SimpleUploadedFile(name, content if content is not None else make_text(240).encode(),
                              content_type="text/plain")


@pytest.fixture
def corpus(alice, bases):
    """A checked dataset of alice's, created through the service (as an upload would)."""
    from training.services import dataset_create

    return dataset_create(owner=alice, uploaded_file=upload())


@pytest.fixture(scope="session")
def local_base_dir(tmp_path_factory):
    """A pretrained-looking GPT-2 directory made here: small GPT2Config + save_pretrained and
    a byte-level BPE tokenizer trained on the fly."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    directory = tmp_path_factory.mktemp("local-gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([make_text(300, seed=1)], vocab_size=400, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    raw = directory / "raw-tokenizer"
    raw.mkdir()
    bpe.save_model(str(raw))
    tokenizer = GPT2TokenizerFast.from_pretrained(str(raw))  # never the vocab_file= constructor (transformers 5)
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = "<|endoftext|>"
    model_dir = directory / "model"
    tokenizer.save_pretrained(str(model_dir))
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    GPT2LMHeadModel(config).save_pretrained(str(model_dir))
    return model_dir


@pytest.fixture
def local_base(db, local_base_dir):
    from training.models import BaseModel

    return BaseModel.objects.create(key="local-tiny", name="Local tiny GPT-2", kind=BaseModel.PRETRAINED,
                                    source=str(local_base_dir), max_block_size=64, order=5)


@pytest.fixture
def fast_runs(settings):
    """Every run created in this test gets the fast values (a settings knob, stored on the run)."""
    settings.TRAINING_EXTRA_HYPERPARAMETERS = dict(FAST)
    return FAST
