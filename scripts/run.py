"""`make run`: Redis (embedded unless REDIS_URL is set), three RQ workers (training, inference,
default) and the web server.

Ctrl-C stops every process this script started.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmschool import devservices  # noqa: E402
# Reading the settings checks the environment before anything starts.
from llmschool import settings as site_settings  # noqa: E402

# The launcher's own variables (listed in README's table by llmschool/settings.py): they
# concern only this process, which starts before Django does.
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # Explicit handlers: SIGINT may arrive ignored (started in the background), and a
    # process manager stops us with SIGTERM; both must stop every child.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    var_dir = site_settings.VAR_DIR
    log_dir = var_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []
    env = devservices.child_env()
    try:
        # Whether the operator named a Redis (the settings' default is the embedded one's socket).
        if not os.environ.get("REDIS_URL"):
            redis_process, url = devservices.start_embedded_redis(var_dir / "redis")
            processes.append(redis_process)
            env["REDIS_URL"] = url
            print(f"  redis     embedded redis-server on {url}")
        else:
            devservices.wait_for_redis(os.environ["REDIS_URL"])
            print(f"  redis     {os.environ['REDIS_URL']}")
        processes.append(devservices.start_worker(
            "training", env, extra_args=devservices.training_worker_args(), log_path=log_dir / "worker-training.log"))
        processes.append(devservices.start_worker(
            "inference", env, extra_args=devservices.inference_worker_args(),
            log_path=log_dir / "worker-inference.log"))
        processes.append(devservices.start_worker("default", env, log_path=log_dir / "worker-default.log"))
        print(f"  workers   training + inference + default (logs in {log_dir})")
        web = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runserver", f"{HOST}:{PORT}", "--noreload"],
                               cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        processes.append(web)
        print(f"\n  llmschool is running at http://{HOST}:{PORT}/   (Ctrl-C stops everything)\n", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        dead = [p.args for p in processes if p.poll() is not None]
        print(f"A process stopped, shutting down: {dead}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping llmschool...")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        devservices.stop(list(reversed(processes)))


if __name__ == "__main__":
    sys.exit(main())
