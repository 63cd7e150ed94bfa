"""Validation loss a from-scratch preset reaches within a fixed wall-clock budget.

    .venv/bin/python bench/scratch_budget.py [--seconds 180] [--preset tiny] [--corpus en-pirate-log.txt]

A short calibration run measures this machine's step time; the real run then gets as many
steps as fit the budget (set-up, evaluations and export included), like a student asking for
"three minutes of training". Prints the validation loss before and after, the best step,
the wall time actually used, and the samples.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from training.engine import TrainConfig, train  # noqa: E402
from training.engine.runtime import choose_num_threads  # noqa: E402

CORPORA = ROOT / "training" / "seed" / "corpora"
CALIBRATION_STEPS = 30


def config(args, output_dir: str, max_steps: int) -> TrainConfig:
    return TrainConfig(data_path=str(CORPORA / args.corpus), output_dir=output_dir, base_kind="scratch",
                       base_source=args.preset, block_size=args.block_size, batch_size=args.batch_size,
                       max_steps=max_steps, eval_every_steps=max(1, max_steps // 10), num_threads=args.threads,
                       checkpoint_every_seconds=1e9)


def seconds_per_step(args, workdir: str) -> tuple[float, float]:
    """(seconds per training step, fixed seconds for set-up, evaluations and export)."""
    times = {}

    def on_progress(progress):
        if progress.event == "start":
            times["start"] = time.perf_counter()
        if progress.step == CALIBRATION_STEPS and "end" not in times:
            times["end"] = time.perf_counter()

    started = time.perf_counter()
    train(config(args, os.path.join(workdir, "calibration"), CALIBRATION_STEPS), on_progress)
    total = time.perf_counter() - started
    per_step = (times["end"] - times["start"]) / CALIBRATION_STEPS
    return per_step, total - per_step * CALIBRATION_STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--corpus", default="en-pirate-log.txt")
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    # Chosen once, so that the calibration and the real run use the same number of threads.
    args.threads = choose_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="llmschool-budget-") as workdir:
        per_step, fixed = seconds_per_step(args, workdir)
        # Evaluations grow with the run and the machine is shared: keep a 10% margin.
        steps = max(1, int((args.seconds * 0.9 - fixed) / per_step))
        print(f"calibration: {per_step * 1000:.1f} ms/step, {fixed:.1f} s fixed -> {steps} steps "
              f"for {args.seconds:.0f} s (load {os.getloadavg()[0]:.2f})", flush=True)
        started = time.perf_counter()
        result = train(config(args, os.path.join(workdir, "run"), steps))
        wall = time.perf_counter() - started
    data = result.data
    epochs = result.tokens_seen / max(1, data["train_blocks"] * args.block_size)
    print(f"preset {args.preset}, corpus {args.corpus}: {data['tokens']} tokens (trained vocabulary "
          f"{data['vocab_size']}), {data['train_blocks']} training blocks of {args.block_size}")
    print(f"wall time {wall:.1f} s for a budget of {args.seconds:.0f} s; {result.steps} steps, "
          f"{result.tokens_seen} tokens ({epochs:.1f} epochs), threads {result.hyperparameters['threads']}, "
          f"bf16 {result.hyperparameters['bf16']}")
    print(f"validation loss {result.base_val_loss:.3f} -> {result.final_val_loss:.3f} "
          f"(perplexity {result.base_perplexity:.0f} -> {result.final_perplexity:.1f}), "
          f"best at step {result.best_step}, overfitting warning: {result.overfitting}")
    for sample in result.samples:
        print(f"  {sample['prompt']!r} -> {sample['tuned']!r}")


if __name__ == "__main__":
    main()
