"""Shared fixtures: users (alice and bob are students, carol an instructor), private media and
model folders, a real Redis, real RQ worker processes that see the test database, tiny models
on disk and a stand-in for the Hub. The plain functions that make things are in tests/factories.py."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import (
    FAST,
    ROOT,
    TINY_BASE_SENTENCES,
    TINY_BASE_WORDS,
    build_rinna_standin,
    build_tiny_gpt2,
    make_text,
    make_user,
)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def carol(db):
    """An instructor: staff, in the Instructors group, not a superuser."""
    return make_user("carol", instructor=True)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def private_dirs(settings, tmp_path):
    """This test's own MEDIA_ROOT and MODELS_DIR; start_worker passes them on to its workers.
    The conftests of tests/training, tests/reliability and tests/e2e use it for every test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODELS_DIR = tmp_path / "models"
    settings.MEDIA_ROOT.mkdir()
    settings.MODELS_DIR.mkdir()
    return settings


@pytest.fixture
def fast_runs(settings):
    """Every run created in this test gets the fast values (a settings knob, stored on the run)."""
    settings.TRAINING_EXTRA_HYPERPARAMETERS = dict(FAST)
    return FAST


@pytest.fixture
def redis_conn():
    """A connection to the suite's real Redis, emptied before the test."""
    import django_rq

    conn = django_rq.get_connection("default")
    conn.flushdb()
    return conn


def worker_environment() -> dict:
    """Environment for a subprocess that must use the test database and the test Redis."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        database_url = f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmschool.test_settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TEST_MODELS_DIR": str(settings.MODELS_DIR),
        "PYTHONUNBUFFERED": "1",
    }


class WorkerProcess:
    """A real `manage.py rqworker` process; the log is kept for failing tests."""

    def __init__(self, queues, env, log_path, extra_args=()):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        command = [sys.executable, str(ROOT / "manage.py"), "rqworker", *queues, *extra_args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    @property
    def pid(self):
        return self.process.pid

    def output(self) -> str:
        self.log.flush()
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, timeout=10):
        if self.process.poll() is None:
            import signal

            import psutil

            try:
                horses = psutil.Process(self.process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                horses = []
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                # A second signal within a second of the first is ignored by RQ: wait, then
                # send it for a cold shutdown, which takes the work horse down too.
                try:
                    self.process.wait(1.2)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            for horse in horses:  # its own process group: never leave one training after the test
                try:
                    horse.kill()
                except psutil.NoSuchProcess:
                    pass
        self.log.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path, redis_conn):
    """Factory: start_worker("training") starts a real worker that sees this test's database;
    start_worker() serves `training` and `default` (the dataset checks), as `make run` does."""
    from llmschool import devservices

    workers = []

    def start(*queues, extra_args=None):
        queues = queues or ("training", "default")
        if extra_args is None:
            extra_args = devservices.training_worker_args() if "training" in queues else ()
        worker = WorkerProcess(queues, worker_environment(), tmp_path / f"worker-{len(workers)}.log", extra_args)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


INFERENCE_WORKER = ("--worker-class", "training.worker.InferenceWorker")


class InferenceWorkers:
    """One real inference worker (`rqworker inference`, training.worker.InferenceWorker) for the
    whole session, started on first use; it needs no database (its jobs carry plain values)."""

    def __init__(self, log_dir: Path):
        self.log_dir, self.worker, self.count = log_dir, None, 0

    def ensure(self) -> "WorkerProcess":
        from django.conf import settings
        from rq import Queue, Worker

        from training.inference import QUEUE_NAME, connection

        if self.worker is None or self.worker.process.poll() is not None:
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmschool.test_settings", "REDIS_URL": settings.REDIS_URL,
                   "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT), "TEST_MODELS_DIR": str(settings.MODELS_DIR),
                   "PYTHONUNBUFFERED": "1"}
            self.count += 1
            log = self.log_dir / f"inference-{self.count}.log"
            self.worker = WorkerProcess([QUEUE_NAME], env, log, INFERENCE_WORKER)
            queue = Queue(QUEUE_NAME, connection=connection())
            wait_for(lambda: self.worker.process.poll() is not None or Worker.count(queue=queue) > 0, timeout=120,
                     interval=0.1, message="the inference worker to start")
        assert self.worker.process.poll() is None, self.worker.output()[-3000:]
        return self.worker

    def stop(self):
        if self.worker is not None:
            self.worker.stop()


@pytest.fixture(scope="session")
def inference_workers(tmp_path_factory):
    workers = InferenceWorkers(tmp_path_factory.mktemp("inference-worker"))
    yield workers
    workers.stop()


@pytest.fixture
def inference_worker(inference_workers, settings):
    """The session's inference worker, running; this test's students start with no inference
    limits used, and a request waits long enough for a loaded machine."""
    from training.inference import PREFIX, connection

    settings.INFERENCE_WAIT_SECONDS = 120.0
    worker = inference_workers.ensure()
    redis = connection()
    for key in redis.scan_iter(f"{PREFIX}:*"):
        redis.delete(key)
    return worker


FAULT_WORKER = ("--worker-class", "tests.faultworker.FaultWorker")


class FaultWorkers:
    """fault_worker(hold=["checkpoint:5"], checkpoint="slow:5", at=2, settings={...}) starts a
    training worker with the faults and holds of tests/faultworker.py; markers land in .fault_dir.

    A test that must act while a run trains holds it at a point instead of racing it:
    `pid = fault_worker.held("checkpoint:5")` waits until the run stops there (its state is in
    the database by then), and `fault_worker.release("checkpoint:5")` lets it go on."""

    def __init__(self, start_worker, fault_dir, monkeypatch):
        self.start_worker, self.fault_dir, self.monkeypatch = start_worker, fault_dir, monkeypatch

    def __call__(self, *, hold=(), checkpoint="", at=0, settings=None, redis_url=None):
        self.environment(hold=hold, checkpoint=checkpoint, at=at, settings=settings)
        if redis_url:
            self.monkeypatch.setattr("django.conf.settings.REDIS_URL", redis_url)
        return self.start_worker("training", extra_args=FAULT_WORKER)

    def environment(self, *, hold=(), checkpoint="", at=0, settings=None):
        import json

        self.monkeypatch.setenv("FAULT_DIR", str(self.fault_dir))
        self.monkeypatch.setenv("FAULT_HOLD", ",".join(hold))
        self.monkeypatch.setenv("FAULT_CHECKPOINT", checkpoint)
        self.monkeypatch.setenv("FAULT_CHECKPOINT_AT", str(at))
        self.monkeypatch.setenv("FAULT_SETTINGS", json.dumps(settings or {}))

    def held(self, point: str, timeout: float = 120.0) -> int:
        """Wait until a run is held at `point`; the holding process's pid."""
        marker = self.fault_dir / f"held-{point.replace(':', '-')}"
        wait_for(marker.exists, timeout=timeout, interval=0.05, message=f"a run held at {point}")
        return int(marker.read_text())

    def release(self, point: str) -> None:
        (self.fault_dir / f"release-{point.replace(':', '-')}").write_text("")


@pytest.fixture
def fault_worker(start_worker, tmp_path, monkeypatch):
    fault_dir = tmp_path / "faults"
    fault_dir.mkdir()
    return FaultWorkers(start_worker, fault_dir, monkeypatch)


def wait_for(predicate, timeout=60.0, interval=0.2, message="condition"):
    """Poll until predicate() is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "ja-JP", "viewport": {"width": 1280, "height": 900}}


# -- tiny models on disk (built once per session; no Hub here) -------------------------------------------------

@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> str:
    """A pretrained-looking GPT-2 directory (config.json, model.safetensors, tokenizer files):
    about 40k parameters and a byte-level BPE of 400 tokens trained on 200 lines of make_text."""
    text = make_text(200, seed=1, words=TINY_BASE_WORDS, sentences=TINY_BASE_SENTENCES)
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), [text])


@pytest.fixture(scope="session")
def rinna_standin_dir(tmp_path_factory) -> Path:
    return build_rinna_standin(tmp_path_factory.mktemp("rinna") / "japanese-gpt2-small")


@pytest.fixture(scope="session")
def rinna_pickled_dir(tmp_path_factory) -> Path:
    """The same stand-in with only pytorch_model.bin (no safetensors). Copy it before converting."""
    return build_rinna_standin(tmp_path_factory.mktemp("rinna-bin") / "japanese-gpt2-small", pickled_only=True)


class FakeHub:
    """huggingface_hub.snapshot_download over local folders: the one edge the tests replace.

    It writes the cache layout the real one writes (models--org--name/blobs, snapshots/<rev>
    with links to the blobs, refs/main), honours allow_patterns, and records its calls."""

    REVISION = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self):
        self.repos: dict[str, Path] = {}
        self.calls: list[tuple[str, tuple]] = []

    def add(self, repo_id: str, folder: Path) -> None:
        self.repos[repo_id] = Path(folder)

    def snapshot_download(self, repo_id, *, cache_dir=None, allow_patterns=None, **kwargs):
        import fnmatch
        import hashlib
        import shutil

        self.calls.append((repo_id, tuple(allow_patterns or ())))
        if repo_id not in self.repos:
            raise OSError(f"404: repository {repo_id} not found")
        repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / self.REVISION
        (repo / "blobs").mkdir(parents=True, exist_ok=True)
        snapshot.mkdir(parents=True, exist_ok=True)
        for file in sorted(self.repos[repo_id].iterdir()):
            if allow_patterns and not any(fnmatch.fnmatch(file.name, pattern) for pattern in allow_patterns):
                continue
            link = snapshot / file.name
            if os.path.lexists(link):
                continue
            blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
            shutil.copyfile(file, blob)
            link.symlink_to(os.path.relpath(blob, snapshot))
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(self.REVISION)
        return str(snapshot)


@pytest.fixture
def fake_hub(monkeypatch) -> FakeHub:
    import huggingface_hub

    hub = FakeHub()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub
