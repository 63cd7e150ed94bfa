"""Shared fixtures: users (alice and bob are students, carol an instructor), a real Redis,
and real RQ worker processes that see the test database."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-test-password-1"


def make_user(username, *, instructor=False, **extra):
    from llmschool.accounts.models import User
    from llmschool.accounts.roles import user_make_instructor

    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD, **extra)
    if instructor:
        user_make_instructor(user=user)
    return user


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
    """Factory: start_worker("training") starts a real worker that sees this test's database."""
    from llmschool import devservices

    workers = []

    def start(*queues, extra_args=None):
        queues = queues or ("training",)
        if extra_args is None:
            extra_args = devservices.training_worker_args() if "training" in queues else ()
        worker = WorkerProcess(queues, worker_environment(), tmp_path / f"worker-{len(workers)}.log", extra_args)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


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
