"""Instruction runs against plain language-model training: tokens/s of the engine on the same
model, block and batch, once on a text and once on conversations made of the same text.

    .venv/bin/python bench/instruction_throughput.py [--steps 10] [--models gpt2,tiny] [--rounds 2]
        [--data training/seed/instructions/en-course-tutor.jsonl]

An instruction run packs whole conversations into blocks (padding the rest) and computes the
head and the loss for the answers' tokens only; tokens/s counts the block's tokens in both
runs (batch x block per step), from the median step time after warm-up (bench/train_throughput.py
measures the same way). Without --data the conversations are made from the shipped sample
corpora: each line's first half is the question, its second half the answer. The text run
trains on the same conversations' contents as one plain text. Rounds alternate text and
instruction runs, and each keeps its fastest round (the least disturbed on a shared machine).
"""
import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from train_throughput import CORPORA, SEED, engine_config, run_engine  # noqa: E402
from training.engine import gpt2_tokenizer_dir  # noqa: E402
from training.engine.instructions import parse_instructions  # noqa: E402
from training.engine.tokenization import load_tokenizer  # noqa: E402


def conversations_from_corpora(limit: int = 3000) -> list[list[dict]]:
    lines = [line.strip() for path in sorted(CORPORA.glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 16]
    conversations = []
    for line in lines[:limit]:
        half = len(line) // 2
        conversations.append([{"role": "user", "content": f"Continue: {line[:half]}"},
                              {"role": "assistant", "content": line[half:]}])
    return conversations


def write_data(workdir: Path, data: str | None) -> tuple[str, str, int]:
    """(conversations .jsonl, the same contents as .txt, how many conversations)."""
    if data:
        conversations, report = parse_instructions(Path(data).read_text(encoding="utf-8"))
        if not report.ok:
            raise SystemExit(f"{data}: {report.problems[:3]}")
    else:
        conversations = conversations_from_corpora()
    jsonl, text = workdir / "chat.jsonl", workdir / "text.txt"
    jsonl.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations),
                     encoding="utf-8")
    text.write_text("\n".join(m["content"] for c in conversations for m in c) + "\n", encoding="utf-8")
    return str(jsonl), str(text), len(conversations)


def base_for(name: str, workdir: Path) -> dict:
    if name != "gpt2":
        return {"base_kind": "scratch", "base_source": name}
    from transformers import GPT2Config, GPT2LMHeadModel

    base_dir = workdir / "gpt2-base"
    if not base_dir.exists():
        torch.manual_seed(SEED)
        GPT2LMHeadModel(GPT2Config()).save_pretrained(str(base_dir))
        load_tokenizer(gpt2_tokenizer_dir()).save_pretrained(str(base_dir))
    return {"base_kind": "pretrained", "base_source": str(base_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", default="gpt2,tiny")
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="engine threads (default: from free cores)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", default=None, help="an instruction .jsonl (default: made from the sample corpora)")
    args = parser.parse_args()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    print(f"torch {torch.__version__}, load {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmschool-bench-chat-") as tmp:
        workdir = Path(tmp)
        jsonl, text, count = write_data(workdir, args.data)
        print(f"{count} conversations; batch {args.batch_size} x block {args.block_size}, {args.steps} steps")
        for name in args.models.split(","):
            best = {}
            base = base_for(name, workdir)
            for number in range(args.rounds):
                for task, path in (("text", text), ("instruction", jsonl)):
                    output_dir = workdir / f"{name}-{task}-{number}"
                    config = engine_config(args, output_dir, path, args.threads, task=task, **base)
                    result = run_engine(config, args.batch_size * args.block_size)
                    if task not in best or result["tokens_per_second"] > best[task]["tokens_per_second"]:
                        best[task] = result
                    shutil.rmtree(output_dir, ignore_errors=True)
                    gc.collect()
            rows.append((name, best))
            print(f"  {name}: done (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\n{'model':6} {'text tok/s':>11} {'instr tok/s':>12} {'ratio':>6}  {'text CPU ms':>11} {'instr CPU ms':>12}")
    for name, best in rows:
        t, i = best["text"], best["instruction"]
        print(f"{name:6} {t['tokens_per_second']:11.0f} {i['tokens_per_second']:12.0f} "
              f"{i['tokens_per_second'] / t['tokens_per_second']:5.2f}x  {t['cpu_seconds'] * 1000:11.0f} "
              f"{i['cpu_seconds'] * 1000:12.0f}")
    print("\n(ratio = instruction / text tokens per second; the goal is at least 0.90x)")
    for name, best in rows:
        losses = " ".join(f"{x:.2f}" for x in best["instruction"]["losses"])
        print(f"  {name} instruction training loss per step (answers only): {losses}")


if __name__ == "__main__":
    main()
