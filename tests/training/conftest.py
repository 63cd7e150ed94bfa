"""Fixtures for the training app: private media/model folders for every test (the worker
processes see them too), base models, a corpus, and the tiny local GPT-2 as a base. Fast run
settings (`fast_runs`) and the tiny GPT-2 directory (`tiny_base_dir`) are in tests/conftest.py;
the functions behind them in tests/factories.py."""
import pytest

from tests.factories import make_base_model, make_checked_dataset, make_user, upload
from training.queueing import QUEUE_NAME


def training_queue_ids(redis_conn):
    """The ids of the jobs waiting in the training queue, in order."""
    from rq import Queue

    return Queue(QUEUE_NAME, connection=redis_conn).job_ids


@pytest.fixture
def alice(db):
    """English by default here, so assertions can read the English msgids; see test_i18n for Japanese."""
    return make_user("alice", preferred_language="en")


@pytest.fixture
def bob(db):
    return make_user("bob", preferred_language="en")


@pytest.fixture(autouse=True)
def private_dirs(private_dirs):
    """Every test here gets its own MEDIA_ROOT and MODELS_DIR (tests/conftest.py)."""
    return private_dirs


@pytest.fixture
def bases(db):
    from training.models import BaseModel

    tiny = make_base_model("tiny", order=1)
    gpt2 = make_base_model("gpt2", name="GPT-2", kind=BaseModel.PRETRAINED, source="gpt2", max_block_size=1024,
                           order=10)
    return {"tiny": tiny, "gpt2": gpt2}


@pytest.fixture
def corpus(alice, bases):
    """A checked dataset of alice's, created through the service (as an upload would)."""
    return make_checked_dataset(alice, upload())


@pytest.fixture
def local_base(db, tiny_base_dir):
    """The tiny GPT-2 directory as a pretrained base (a local folder, no Hub)."""
    from training.models import BaseModel

    return make_base_model("local-tiny", name="Local tiny GPT-2", kind=BaseModel.PRETRAINED, source=tiny_base_dir,
                           max_block_size=64, order=5)
