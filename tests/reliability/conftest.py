"""Fixtures for fault tests: real Redis (the suite's, or a private one a test may restart),
real worker processes (the `fault_worker` fixture of tests/conftest.py: the training worker
with faults and holds switched on by environment), real tiny training."""
import os

import pytest

from tests.conftest import wait_for
from tests.factories import make_base_model, make_checked_dataset, make_user, upload


@pytest.fixture(autouse=True)
def private_dirs(private_dirs, fast_runs):
    """Every test here: its own folders and fast runs (tests/conftest.py)."""
    return private_dirs


@pytest.fixture
def student(db):
    return make_user("ken", preferred_language="en")


@pytest.fixture
def tiny(db):
    return make_base_model("tiny")


@pytest.fixture
def corpus(student, tiny):
    return make_checked_dataset(student, upload("c.txt"))


def queue_run(student, tiny, corpus, **extra):
    from training.services import training_run_create

    return training_run_create(owner=student, dataset=corpus, base_model=tiny,
                               extra={"max_steps": 40, "checkpoint_every_steps": 5, **extra})


def fresh(run):
    run.refresh_from_db()
    return run


def wait_status(run, statuses, timeout=120.0, worker=None):
    def done():
        return fresh(run).status in statuses

    try:
        wait_for(done, timeout=timeout, interval=0.2, message=f"run {run.pk} to reach {statuses} (is {run.status})")
    except AssertionError:
        if worker is not None:
            print(worker.output()[-4000:])
        raise
    return run


def assert_finished_cleanly(run):
    """The invariants every fault test ends with: a final state with its reason, no quota slot
    held, at most one archive, and a published archive that is a complete model."""
    import zipfile

    run = fresh(run)
    assert run.status in ("succeeded", "failed", "cancelled")
    assert run.active_slot is None and run.worker_pid is None
    if run.status == "failed":
        assert run.error_code
    if run.status == "succeeded":
        # The status is published before older attempts' folders are removed (the horse goes on
        # deleting them): wait for that clean-up instead of listing files while it happens.
        published = f"attempt-{run.published_attempt}"
        wait_for(lambda: {p.name for p in run.run_dir.glob("attempt-*")} <= {published}, timeout=60,
                 message="older attempts' folders to be removed")
    archives = sorted(run.run_dir.rglob("*.zip")) if run.run_dir.exists() else []
    if run.status == "succeeded":
        assert archives == [run.archive_path]
        with zipfile.ZipFile(run.archive_path) as archive:
            assert archive.testzip() is None
            assert {"config.json", "model.safetensors"} <= set(archive.namelist())
    else:
        assert archives == []
    return run


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_file(path, timeout=90.0):
    """The fault worker writes its markers whole (a rename), so a file that exists can be read."""
    wait_for(path.exists, timeout=timeout, interval=0.1, message=f"{path.name}")
    return path.read_text()


@pytest.fixture
def private_redis(tmp_path, monkeypatch):
    """A redis-server of this test's own (append-only file on), which it may stop and restart.
    The test process's training queue and reconciler use it; pass `.url` to the worker."""
    import redis

    from llmschool import devservices
    from training import queueing, reconciler

    class PrivateRedis:
        directory = tmp_path / "private-redis"

        def start(self):
            self.process, self.url = devservices.start_embedded_redis(self.directory)
            return self

        def stop(self):
            devservices.stop([self.process])

        def restart(self):
            self.stop()
            return self.start()

        def connection(self):
            return redis.Redis.from_url(self.url)

    server = PrivateRedis().start()
    monkeypatch.setattr(queueing, "redis_connection", lambda: redis.Redis.from_url(server.url))
    if hasattr(reconciler, "redis_connection"):
        monkeypatch.setattr(reconciler, "redis_connection", lambda: redis.Redis.from_url(server.url))
    yield server
    server.stop()
