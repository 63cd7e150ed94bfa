"""`make run`'s process manager: Redis, three workers and the web server come up, and one
signal stops them all."""
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_run_serves_the_site_with_redis_and_workers_and_stops_everything(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update({"VAR_DIR": str(tmp_path / "var"), "PORT": str(port), "DJANGO_SETTINGS_MODULE": "llmschool.settings"})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    runner = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def health():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    report = json.loads(response.read())
                return report if report["workers"]["count"] == 3 else None
            except OSError:
                return None

        report = wait_for(health, timeout=60, message="the site to report three workers")
        assert report["ok"] and report["workers"]["queues"] == {  # an inference worker also serves the bulk queue
            "training": 1, "inference": 1, "inference-bulk": 1, "default": 1}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as response:
            page = response.read().decode()
        assert '<html lang="ja">' in page
        children = psutil.Process(runner.pid).children(recursive=True)
        assert len(children) >= 5  # redis-server, three workers, runserver
    finally:
        runner.send_signal(signal.SIGINT)
        output = runner.communicate(timeout=30)[0].decode()
    assert "Stopping llmschool" in output
    still_alive = [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert still_alive == []
