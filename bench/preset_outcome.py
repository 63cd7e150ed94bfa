"""What each preset delivers: trains every preset on every shipped sample corpus with the
from-scratch bases, as the site would plan it, and prints one row per run.

    .venv/bin/python bench/preset_outcome.py [--presets quick] [--bases tiny] [--corpora ja-haiku-diary.txt]

For each base the speed is first calibrated on this machine (a few real steps, as the training
worker does), then each run is planned by training.engine.presets.preset_plan (time budget,
epoch cap, early stopping) and trained by the engine directly (no Django). A row: wall seconds
of training (the loop: steps and evaluations), the whole run's seconds, steps, held-out bits per
character before and after, why it stopped, and the start of the first sample.

Bits per character: the engine's `val_bpc` figures when the result has them, otherwise the
validation loss (nats per token) x tokens per character of the text / ln 2.
"""
import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from training.engine import TrainConfig, calibrate, train  # noqa: E402
from training.engine.check import scratch_tokens_per_char  # noqa: E402
from training.engine.config import DEFAULT_MAX_BYTES  # noqa: E402
from training.engine.corpus import read_corpus, text_figures  # noqa: E402
from training.engine.estimate import parameters  # noqa: E402
from training.engine.presets import HYPER_PRESETS, SETTINGS, preset_plan  # noqa: E402
from training.engine.runtime import choose_num_threads  # noqa: E402

CORPORA = ROOT / "training" / "seed" / "corpora"


def bits_per_char(result, which: str) -> float:
    """which: "base" or "final"."""
    figures = result.to_dict()
    for key in (f"{which}_val_bpc", f"{which}_bpc", "val_bpc" if which == "final" else "base_val_bpc"):
        if figures.get(key) is not None:
            return float(figures[key])
    loss = result.base_val_loss if which == "base" else result.final_val_loss
    return loss * result.data["tokens_per_char"] / math.log(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(HYPER_PRESETS))
    parser.add_argument("--bases", default="tiny,small", help="from-scratch presets")
    parser.add_argument("--corpora", default=",".join(sorted(p.name for p in CORPORA.glob("*.txt"))))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    threads = choose_num_threads(args.threads)  # once, so calibration and runs use the same
    print(f"machine: {os.cpu_count()} cores, {threads} training threads, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    settings = SETTINGS["scratch"]
    for base in args.bases.split(","):
        speed = calibrate(base_kind="scratch", base_source=base, block_size=settings["block_size"],
                          batch_size=settings["batch_size"], num_threads=threads)
        print(f"calibration scratch:{base}: {speed['tokens_per_second']:,.0f} tokens/s on {speed['device']}",
              flush=True)
        for preset in args.presets.split(","):
            for name in args.corpora.split(","):
                path = CORPORA / name
                corpus = read_corpus(str(path), max_bytes=DEFAULT_MAX_BYTES)
                chars = text_figures(corpus.documents)["chars"]
                tokens = round(chars * scratch_tokens_per_char(corpus.documents))
                plan = preset_plan(preset, base_kind="scratch", base_source=base,
                                   parameters=parameters(f"scratch:{base}"), tokens=tokens,
                                   tokens_per_second=speed["tokens_per_second"])
                with tempfile.TemporaryDirectory(prefix="llmschool-preset-") as workdir:
                    config = TrainConfig(data_path=str(path), output_dir=workdir, base_kind="scratch",
                                         base_source=base, num_threads=threads, checkpoint_every_seconds=1e9,
                                         **plan["hyperparameters"])
                    started = time.perf_counter()
                    result = train(config)
                    wall = time.perf_counter() - started
                p = plan["plan"]
                sample = result.samples[0]["tuned"] if result.samples else ""
                print(f"{preset:8} {base:5} {name:20} train {result.train_seconds:6.1f} s (run {wall:6.1f} s, "
                      f"planned {p['train_seconds']:.0f} s) steps {result.steps:5}/{p['steps']:<5} "
                      f"[{p['limited_by']}, cap {p['max_epochs']} epochs] bpc {bits_per_char(result, 'base'):.2f} -> "
                      f"{bits_per_char(result, 'final'):.2f} (best step {result.best_step}) stop {result.stop_reason}; "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
                print(f"    lr {config.learning_rate} batch {config.batch_size}x{config.grad_accum} block "
                      f"{config.block_size}, {result.data['tokens']} tokens, vocabulary {result.data['vocab_size']}; "
                      f"sample {result.samples[0]['prompt']!r} -> {sample[:240]!r}", flush=True)


if __name__ == "__main__":
    main()
