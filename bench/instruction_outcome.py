"""What an instruction run delivers: trains the shipped sample tutor datasets as the site would
plan an instruction run (preset time budget, block from the longest conversation) and prints,
per run, the held-out answers' bits per character before and after, and the held-out questions
with the reference answer, the base's answer and the trained model's answer.

    .venv/bin/python bench/instruction_outcome.py [--datasets en,ja] [--bases tiny,small]
        [--presets quick] [--base-dir DIR]   # DIR: a local pretrained GPT-2 (save_pretrained)

The engine runs directly (no Django): calibrate the base's speed on this machine, then
training.engine.presets.preset_plan turns the preset into steps, as training.services.run_plan
does. Bits per character are over the held-out answers' characters only (the loss is masked
to the answers), so they compare across tokenizers and bases.
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

from training.engine import TrainConfig, calibrate, train  # noqa: E402
from training.engine.estimate import parameters  # noqa: E402
from training.engine import gpt2_tokenizer_dir  # noqa: E402
from training.engine.chat import chat_tokenizer  # noqa: E402
from training.engine.instructions import check_instructions  # noqa: E402
from training.engine.presets import SETTINGS, preset_plan  # noqa: E402
from training.engine.runtime import choose_num_threads  # noqa: E402
from training.engine.tokenization import load_tokenizer  # noqa: E402

DATASETS = ROOT / "training" / "seed" / "instructions"
TOKENS_PER_CHAR = {"en": 0.3, "ja": 1.0}  # rough, for the plan only (the run measures its own)


def block_for(path: Path) -> int:
    """As training.services.default_block_size: 128 tokens, or 256 when the longest conversation
    (rendered with the chat template, GPT-2's tokenizer) needs it."""
    tokenizer = chat_tokenizer(load_tokenizer(gpt2_tokenizer_dir()))
    report = check_instructions(path.read_text(encoding="utf-8"), tokenizer=tokenizer)
    return next((size for size in (128, 256) if report.longest_tokens <= size), 256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="en,ja")
    parser.add_argument("--bases", default="tiny,small", help="from-scratch presets")
    parser.add_argument("--presets", default="quick")
    parser.add_argument("--base-dir", default=None, help="also train a local pretrained base (directory)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--prompts", type=int, default=4, help="held-out questions shown per run")
    args = parser.parse_args()
    threads = choose_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} cores, {threads} training threads, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    bases = [("scratch", name) for name in args.bases.split(",") if name]
    if args.base_dir:
        bases.append(("pretrained", args.base_dir))
    for base_kind, base in bases:
        settings = SETTINGS["scratch" if base_kind == "scratch" else "pretrained"]
        speed = calibrate(base_kind=base_kind, base_source=base, block_size=settings["block_size"],
                          batch_size=settings["batch_size"], num_threads=threads)
        print(f"calibration {base_kind}:{base}: {speed['tokens_per_second']:,.0f} tokens/s", flush=True)
        for preset in args.presets.split(","):
            for language in args.datasets.split(","):
                path = DATASETS / f"{language}-course-tutor.jsonl"
                chars = len(path.read_text(encoding="utf-8"))
                key = f"scratch:{base}" if base_kind == "scratch" else base
                plan = preset_plan(preset, base_kind=base_kind, base_source=base, parameters=parameters(key),
                                   tokens=round(chars * TOKENS_PER_CHAR[language]),
                                   tokens_per_second=speed["tokens_per_second"])
                hyper = {**plan["hyperparameters"], "block_size": block_for(path), "text_prompts": args.prompts}
                with tempfile.TemporaryDirectory(prefix="llmschool-instr-") as workdir:
                    config = TrainConfig(data_path=str(path), output_dir=workdir, base_kind=base_kind,
                                         base_source=base, task="instruction", num_threads=threads,
                                         checkpoint_every_seconds=1e9, **hyper)
                    started = time.perf_counter()
                    result = train(config)
                    wall = time.perf_counter() - started
                print(f"\n{preset} {base_kind}:{Path(base).name} {language}: {result.steps} steps in "
                      f"{result.train_seconds:.0f} s (run {wall:.0f} s), block {config.block_size}, "
                      f"held-out answers {result.base_val_bpc:.2f} -> {result.val_bpc:.2f} bits per character "
                      f"(best step {result.best_step}, stop {result.stop_reason}); load {os.getloadavg()[0]:.2f}",
                      flush=True)
                for sample in result.samples[:args.prompts]:
                    question = sample.get("messages", [{}])[-1].get("content") if sample.get("messages") else None
                    print(f"  Q: {question or sample['prompt'][-120:]!r}")
                    if sample.get("reference"):
                        print(f"     reference: {sample['reference']!r}")
                    print(f"     before:    {sample['base'][:200]!r}")
                    print(f"     after:     {sample['tuned'][:200]!r}", flush=True)


if __name__ == "__main__":
    main()
