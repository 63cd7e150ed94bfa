"""Training throughput: llmschool's engine against a plain transformers.Trainer.

Runs both in this process on the same data and the same initial model, for the GPT-2 124M
architecture (random init from GPT2Config(), the real GPT-2 tokenizer) and for each
from-scratch preset, and prints tokens/s of each, their ratio and both loss trajectories.
With --busy N, N other processes keep cores busy meanwhile (a site being served, another
worker): the Trainer keeps torch's default thread count, the engine picks it from free cores.

    .venv/bin/python bench/train_throughput.py [--steps 8] [--models gpt2,tiny,small] [--busy 1]
        [--trainer-threads 1] [--rounds 3]

Tokens/s comes from the median step time after the first steps (warm-up), so evaluation,
sampling and export are not counted for either side. The Trainer keeps its default
arguments except output_dir, max_steps and logging_steps=1 (to read its loss at each step).
The engine runs twice: with the Trainer's thread count (same hardware, compares the code)
and with its own choice from free cores (compares what a student gets). CPU time per step
is printed too: on a machine shared with other work it is steadier than wall time, and
--trainer-threads 1 compares one core against one core.
"""
import argparse
import contextlib
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from training.engine import TrainConfig, gpt2_tokenizer_dir, train  # noqa: E402
from training.engine.bases import scratch_config  # noqa: E402
from training.engine.corpus import read_corpus  # noqa: E402
from training.engine.data import make_blocks  # noqa: E402
from training.engine.tokenization import load_tokenizer, train_bpe_tokenizer  # noqa: E402

CORPORA = ROOT / "training" / "seed" / "corpora"
SEED = 42
WARMUP_STEPS = 2
VAL_BLOCKS = 8


def corpus_file(workdir: Path) -> str:
    """Both shipped sample corpora (Japanese and English) in one file."""
    path = workdir / "corpus.txt"
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPORA.glob("*.txt"))]
    if not texts:  # no sample corpora yet: any text of the repository will do
        texts = [p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("**/*.md"))[:50]]
    path.write_text("\n".join(texts), encoding="utf-8")
    return str(path)


def clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    return time.perf_counter(), time.process_time()


def step_rate(times: list[tuple], tokens_per_step: int) -> tuple[float, float, float]:
    """(tokens/s from the median step time, median step seconds, median CPU seconds per step),
    skipping warm-up steps."""
    steps = list(zip(times, times[1:]))[WARMUP_STEPS - 1:]
    wall = statistics.median(b[0] - a[0] for a, b in steps)
    cpu = statistics.median(b[1] - a[1] for a, b in steps)
    return tokens_per_step / wall, wall, cpu


def run_trainer(model, blocks, args, workdir: Path) -> dict:
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    times, losses = [], []

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            if not times:
                times.append(clock())

        def on_step_end(self, a, state, control, **kw):
            times.append(clock())

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    if args.trainer_threads:
        torch.set_num_threads(args.trainer_threads)
    rows = blocks.train.tolist()
    dataset = Dataset.from_dict({"input_ids": rows, "labels": rows})
    training_args = TrainingArguments(output_dir=str(workdir / "trainer"), max_steps=args.steps, logging_steps=1,
                                      per_device_train_batch_size=args.batch_size)
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset, callbacks=[Clock()])
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        trainer.train()  # its per-step log lines and progress bar would bury the figures
    rate, seconds, cpu = step_rate(times, args.batch_size * args.block_size)
    return {"tokens_per_second": rate, "step_seconds": seconds, "cpu_seconds": cpu, "losses": losses,
            "threads": torch.get_num_threads(), "val_loss": val_loss(model, blocks.val[:VAL_BLOCKS])}


def val_loss(model, blocks) -> float:
    """Mean loss on the validation blocks the engine evaluates (its first VAL_BLOCKS)."""
    model.eval()
    with torch.no_grad():
        batch = torch.from_numpy(blocks)
        return float(model(input_ids=batch, labels=batch).loss)


def run_engine(config: TrainConfig, tokens_per_step: int) -> dict:
    times, losses, threads = [], [], []

    def on_progress(progress):
        if progress.event == "start":
            times.append(clock())
            threads.append(torch.get_num_threads())
        if progress.event in ("step", "eval") and progress.step > len(losses):
            times.append(clock())
            losses.append(progress.train_loss)

    result = train(config, on_progress)
    rate, seconds, cpu = step_rate(times[:-1], tokens_per_step)  # the last step's time includes its evaluation
    return {"tokens_per_second": rate, "step_seconds": seconds, "cpu_seconds": cpu, "losses": losses,
            "threads": threads[0],
            "bf16": result.hyperparameters["bf16"], "val_loss": result.final_val_loss}


def engine_config(args, output_dir: Path, data_path: str, threads, **base) -> TrainConfig:
    # Matched to the Trainer's defaults: lr 5e-5, no warmup, no weight decay, clip at 1.0.
    return TrainConfig(
        data_path=data_path, output_dir=str(output_dir), block_size=args.block_size,
        batch_size=args.batch_size, max_steps=args.steps, learning_rate=5e-5, warmup_ratio=0.0,
        weight_decay=0.0, seed=SEED, eval_every_steps=args.steps, eval_max_blocks=VAL_BLOCKS,
        progress_every_seconds=0.0, checkpoint_every_seconds=1e9, sample_max_new_tokens=1,
        num_threads=threads, **base,
    )


def compare(name: str, args, workdir: Path, data_path: str) -> dict:
    """The Trainer, then the engine with the Trainer's thread count, then with its own choice."""
    from transformers import GPT2Config, GPT2LMHeadModel

    corpus = read_corpus(data_path, max_bytes=50 * 2**20)
    if name == "gpt2":
        tokenizer = load_tokenizer(gpt2_tokenizer_dir())
        torch.manual_seed(SEED)
        base_dir = workdir / "gpt2-base"
        GPT2LMHeadModel(GPT2Config()).save_pretrained(str(base_dir))
        tokenizer.save_pretrained(str(base_dir))
        base = {"base_kind": "pretrained", "base_source": str(base_dir)}
        make_model = lambda: GPT2LMHeadModel.from_pretrained(str(base_dir))  # noqa: E731
    else:
        # The same tokenizer the engine trains for itself (training it is deterministic).
        tokenizer_dir = workdir / "tokenizer"
        train_bpe_tokenizer(corpus.documents, str(tokenizer_dir), vocab_size=4000)
        tokenizer = load_tokenizer(str(tokenizer_dir))
        base = {"base_kind": "scratch", "base_source": name}

        def make_model():
            torch.manual_seed(SEED)  # as the engine does before building the model
            return GPT2LMHeadModel(scratch_config(name, vocab_size=len(tokenizer), block_size=args.block_size,
                                                  eos_token_id=tokenizer.eos_token_id))
    blocks = make_blocks(corpus, tokenizer, block_size=args.block_size, val_fraction=0.1, seed=SEED)
    parameters = make_model().num_parameters()
    trainer = run_trainer(make_model(), blocks, args, workdir)
    gc.collect()
    engines = {}
    for label, threads in (("matched", trainer["threads"]), ("auto", args.threads)):
        output_dir = workdir / f"engine-{label}"
        engines[label] = run_engine(engine_config(args, output_dir, data_path, threads, **base),
                                    args.batch_size * args.block_size)
        shutil.rmtree(output_dir, ignore_errors=True)
        gc.collect()
    return {"name": name, "parameters": parameters, "trainer": trainer, "engine": engines}


def best_of(rounds: list[dict]) -> dict:
    """Each side's fastest round: on a shared machine the least disturbed one is the truest."""
    best = rounds[0]
    for other in rounds[1:]:
        if other["trainer"]["tokens_per_second"] > best["trainer"]["tokens_per_second"]:
            best["trainer"] = other["trainer"]
        for label in ("matched", "auto"):
            if other["engine"][label]["tokens_per_second"] > best["engine"][label]["tokens_per_second"]:
                best["engine"][label] = other["engine"][label]
    return best


@contextlib.contextmanager
def busy_processes(count: int):
    """Processes that each keep one core busy, like a web server or a second worker under load."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(1.0 if count else 0.0)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--models", default="gpt2,tiny,small")
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="engine threads (default: from free cores)")
    parser.add_argument("--trainer-threads", type=int, default=None,
                        help="torch threads for the Trainer (default: torch's own default, all cores)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and keep each side's best round")
    parser.add_argument("--busy", type=int, default=0,
                        help="start this many processes that each keep a core busy during the runs")
    args = parser.parse_args()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default, {args.busy} busy processes, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="llmschool-bench-") as tmp:
        workdir = Path(tmp)
        data_path = corpus_file(workdir)
        results = []
        for name in args.models.split(","):
            started = time.time()
            rounds = []
            for number in range(args.rounds):
                with busy_processes(args.busy):
                    rounds.append(compare(name, args, workdir / f"{name}-{number}", data_path))
            results.append(best_of(rounds))
            print(f"  {name}: done in {time.time() - started:.0f} s (load {os.getloadavg()[0]:.2f})", flush=True)
            gc.collect()
        print(f"\nbatch {args.batch_size} x block {args.block_size}, {args.steps} steps, tokens/s from the "
              f"median step after warm-up (best of {args.rounds} rounds); engine with the Trainer's thread count, "
              f"then with its own choice")
        print(f"{'model':6} {'params':>7} {'Trainer':>8} {'engine':>8} {'ratio':>6}   {'engine':>8} {'ratio':>6}"
              f"  threads T/e/e  bf16")
        for r in results:
            t, same, auto = r["trainer"], r["engine"]["matched"], r["engine"]["auto"]
            print(f"{r['name']:6} {r['parameters'] / 1e6:6.1f}M {t['tokens_per_second']:8.0f} "
                  f"{same['tokens_per_second']:8.0f} {same['tokens_per_second'] / t['tokens_per_second']:5.2f}x   "
                  f"{auto['tokens_per_second']:8.0f} {auto['tokens_per_second'] / t['tokens_per_second']:5.2f}x"
                  f"  {t['threads']}/{same['threads']}/{auto['threads']}         {same['bf16']}")
        print("\nCPU time per step (all threads of the process), same thread count: less disturbed by "
              "other processes than wall time")
        for r in results:
            t, same = r["trainer"], r["engine"]["matched"]
            print(f"  {r['name']:6} Trainer {t['cpu_seconds'] * 1000:8.0f} ms   engine {same['cpu_seconds'] * 1000:8.0f} ms"
                  f"   ratio {t['cpu_seconds'] / same['cpu_seconds']:5.2f}x")
        print("\nvalidation loss after training (same blocks): Trainer | engine")
        for r in results:
            print(f"  {r['name']:6} {r['trainer']['val_loss']:.3f} | {r['engine']['matched']['val_loss']:.3f}")
        print("\ntraining loss per step (Trainer | engine with the same threads):")
        for r in results:
            pairs = " ".join(f"{a:.2f}|{b:.2f}" for a, b in zip(r["trainer"]["losses"], r["engine"]["matched"]["losses"]))
            print(f"  {r['name']:6} {pairs}")


if __name__ == "__main__":
    main()
