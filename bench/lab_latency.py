"""Latency of the lab's JSON APIs on from-scratch models, warm, through Django's full stack.

    .venv/bin/python bench/lab_latency.py [--presets tiny small] [--requests 40] [--steps 30]

For each preset it trains a scratch model with the engine for a few steps on the seeded
Japanese corpus (a throwaway database and media folder under a temporary directory),
attaches it to a succeeded run, warms every API once, then times `--requests` calls per
API with varied inputs and prints p50/p95/max in milliseconds. The model work runs, as on
the site, on an inference worker (an embedded Redis and one `rqworker inference` process are
started here), so the figures include the queue. The lab's target is a p95 under 500 ms on
2 CPU cores. Nothing here needs the network.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "training" / "seed" / "corpora" / "ja-haiku-diary.txt"
TEXTS = ["東京メトロに乗って、猫カフェへ行く。", "Once upon a time a ship sailed over the grey sea.",
         "今日は朝から雨が降っていた。", "吾輩は猫である。名前はまだ無い。", "The cat sat on the mat."]


def setup_django(workdir: Path, threads: int | None) -> list:
    """Django on a throwaway database, an embedded Redis and one inference worker (returned)."""
    from llmschool import devservices

    redis_process, os.environ["REDIS_URL"] = devservices.start_embedded_redis(workdir / "redis")
    os.environ["INFERENCE_RATE_PER_MINUTE"] = "100000"
    if threads is not None:
        os.environ["INFERENCE_TORCH_THREADS"] = str(threads)
    os.environ["VAR_DIR"] = str(workdir / "var")
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["DJANGO_SETTINGS_MODULE"] = "llmschool.settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    worker = devservices.start_worker("inference", devservices.child_env(),
                                      extra_args=devservices.inference_worker_args(),
                                      log_path=workdir / "worker-inference.log")
    return [worker, redis_process]


def train_run(owner, preset: str, steps: int):
    """A succeeded run whose export is a scratch model trained for `steps` steps."""
    from training.engine import TrainConfig, train
    from training.models import TrainingRun

    run = TrainingRun.objects.create(owner=owner, name=f"bench-{preset}", status=TrainingRun.SUCCEEDED,
                                     published_attempt=1)
    started = time.perf_counter()
    result = train(TrainConfig(data_path=str(CORPUS), output_dir=str(run.attempt_dir(1)), base_kind="scratch",
                               base_source=preset, max_steps=steps, eval_every_steps=max(1, steps // 4),
                               sample_max_new_tokens=8), lambda progress: None)
    run.history = result.history
    run.save(update_fields=["history"])
    assert Path(result.model_dir) == run.export_dir, (result.model_dir, run.export_dir)
    print(f"trained scratch:{preset} for {steps} steps in {time.perf_counter() - started:.1f} s")
    return run


def requests_for(run, index: int) -> dict:
    """One set of varied inputs per API (the same shape as what lab.js sends)."""
    from django.urls import reverse

    text = TEXTS[index % len(TEXTS)]
    code = str(run.code)
    return {
        "models": (reverse("lab:api_models"), {}),
        "tokenize": (reverse("lab:api_tokenize"), {"text": text * 2, "model": code}),
        "next-token": (reverse("lab:api_next_token"), {
            "model": code, "prompt": text, "ids": ",".join(str(40 + i) for i in range(index % 6)),
            "temperature": [1.0, 0.7, 1.4, 0.0][index % 4], "top_k": [0, 40][index % 2], "top_p": ["", 0.9][index % 2],
            "k": 10, "seed": index}),
        "attention": (reverse("lab:api_attention"), {"model": code, "text": text}),
        "my-run-loss": (reverse("lab:api_my_run_loss"), {}),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


POSTED = {"tokenize", "next-token", "attention"}  # the APIs that send text (lab.js posts them)


def call(client, name, url, params):
    return client.post(url, params) if name in POSTED else client.get(url, params)


def measure(client, run, requests: int) -> dict:
    timings: dict[str, list[float]] = {}
    for name, (url, params) in requests_for(run, 0).items():  # warm: load the model and tokenizers
        assert call(client, name, url, params).status_code == 200, name
    for index in range(requests):
        for name, (url, params) in requests_for(run, index).items():
            started = time.perf_counter()
            response = call(client, name, url, params)
            timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.content[:200])
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the inference worker (INFERENCE_TORCH_THREADS; default: the site's)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lab-bench-") as workdir:
        processes = setup_django(Path(workdir), args.threads)
        try:
            return bench(args)
        finally:
            from llmschool import devservices

            devservices.stop(processes)


def bench(args) -> int:
    from django.conf import settings
    from django.test import Client

    from llmschool.accounts.models import User

    user = User.objects.create_user("bench", password="bench-password-123")
    client = Client()
    client.force_login(user)
    rows = []
    for preset in args.presets:
        run = train_run(user, preset, args.steps)
        timings = measure(client, run, args.requests)
        print(f"inference threads: {settings.INFERENCE_TORCH_THREADS or 'default'}, CPU cores: {os.cpu_count()}, "
              f"load average: {os.getloadavg()[0]:.1f}")
        for name, values in timings.items():
            rows.append((preset, name, statistics.median(values), percentile(values, 0.95), max(values)))
        run.delete()  # the next preset's model becomes the latest run
    print(f"\n{'preset':<8}{'api':<14}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}   ({args.requests} warm requests each)")
    for preset, name, p50, p95, worst in rows:
        print(f"{preset:<8}{name:<14}{p50:>9.1f}{p95:>9.1f}{worst:>9.1f}{'' if p95 < 500 else '   over 500 ms'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
