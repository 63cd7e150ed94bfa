"""Bytes a run's folder holds in each final state, before and after training/storage.py prunes it.

    .venv/bin/python bench/run_disk.py [--size gpt2] [--steps 2]

Trains a model shaped like GPT-2 124M (random weights, float32; no download: the tokenizer is
trained on a shipped sample, the vocabulary stays GPT-2's 50,257) for a few steps with a
checkpoint at every step, twice: once to the end (succeeded) and once stopped after its first
checkpoint (cancelled or failed). Prints what each folder holds and what the storage policy
keeps. `--size tiny` does the same in seconds with a small GPT-2.
"""
import argparse
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmschool.settings")

SIZES = {"gpt2": {"n_embd": 768, "n_layer": 12, "n_head": 12},
         "tiny": {"n_embd": 64, "n_layer": 2, "n_head": 2}}


def build_base(directory: Path, corpus: Path, size: str) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    raw = directory / "tokenizer"
    raw.mkdir(parents=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus.read_text(encoding="utf-8").splitlines(), vocab_size=1000, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    bpe.save_model(str(raw))
    tokenizer = GPT2TokenizerFast.from_pretrained(str(raw))
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = "<|endoftext|>"
    model_dir = directory / "model"
    tokenizer.save_pretrained(str(model_dir))
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **SIZES[size])
    GPT2LMHeadModel(config).save_pretrained(str(model_dir))
    return model_dir


def train_into(output_dir: Path, base: Path, data: Path, steps: int, stop_after_checkpoint: bool) -> str:
    from training.engine import TrainConfig, TrainingCancelled, export_zip, train

    output_dir.mkdir(parents=True)
    config = TrainConfig(data_path=str(data), output_dir=str(output_dir), base_kind="pretrained",
                         base_source=str(base), block_size=32, batch_size=1, max_steps=steps, eval_every_steps=1,
                         eval_max_blocks=4, checkpoint_every_steps=1, checkpoint_every_seconds=1e9,
                         text_prompts=1, sample_max_new_tokens=2, num_threads=None)

    def on_progress(progress):
        return stop_after_checkpoint and progress.event == "checkpoint"

    try:
        result = train(config, on_progress)
    except TrainingCancelled:
        return "stopped"
    export_zip(result.model_dir, str(output_dir / "archive.zip"))
    return "done"


def report(label: str, run, now) -> None:
    from training import storage

    before = storage.tree_bytes(run.run_dir)
    parts = {path.relative_to(run.run_dir): storage.tree_bytes(path)
             for attempt in run.run_dir.iterdir() for path in attempt.iterdir()}
    kept = before - sum(storage.tree_bytes(path) for path in storage.run_leftovers(run, now))
    later = before - sum(storage.tree_bytes(path)
                         for path in storage.run_leftovers(run, now + timedelta(days=365)))
    print(f"{label}: {before / 1e6:,.1f} MB on disk when it ends")
    for path, size in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"    {str(path)[:40]:40} {size / 1e6:10,.1f} MB")
    print(f"  kept once final: {kept / 1e6:,.1f} MB; once its time to resume is over: {later / 1e6:,.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="gpt2")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--corpus", default="en-pirate-log.txt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="run-disk-") as tmp:
        tmp = Path(tmp)
        os.environ["TRAINING_RUNS_DIR"] = str(tmp / "runs")
        import django

        django.setup()
        from django.utils import timezone

        from training.models import TrainingRun

        lines = (ROOT / "training" / "seed" / "corpora" / args.corpus).read_text(encoding="utf-8").splitlines()
        data = tmp / "corpus.txt"
        data.write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
        base = build_base(tmp / "base", data, args.size)
        now = timezone.now()
        for label, status, stop in (("succeeded", TrainingRun.SUCCEEDED, False),
                                    ("cancelled or failed after a checkpoint", TrainingRun.CANCELLED, True)):
            run = TrainingRun(code=uuid.uuid4(), status=status, attempt=1, published_attempt=1, finished_at=now)
            attempt_dir = run.attempt_dir(1)
            train_into(attempt_dir, base, data, args.steps, stop)
            if status == TrainingRun.SUCCEEDED:
                (attempt_dir / "archive.zip").rename(attempt_dir / run.archive_name)
            report(label, run, now)


if __name__ == "__main__":
    main()
