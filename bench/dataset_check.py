"""CPU time and memory of the dataset check (the job on the `default` queue) on the files of
issue #14, and on the largest files the caps let through.

    .venv/bin/python bench/dataset_check.py [--only NAME ...]

Each case runs `check_dataset` in a fresh process (so max RSS is that case's own) with the
engine's default caps (training.engine.CorpusLimits) and prints the file size, CPU seconds,
max RSS and the outcome: a report, or the refusal's code. Nothing here needs the network.
"""
import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cases() -> dict:
    deep = '{"text": "x", "a": ' + "[" * 5000 + "]" * 5000 + "}\n"
    return {
        # issue #14: refused at once now
        "3.5M tiny CSV rows (7 MB)": ("rows.csv", "text\n" + "a\n" * 3_500_000),
        "one 9 MB JSONL line": ("line.jsonl", json.dumps({"text": "a" * 9_000_000}) + "\n"),
        "JSONL nested 5,000 deep": ("deep.jsonl", json.dumps({"text": "hello"}) + "\n" + deep),
        # the largest the caps allow
        "450k CSV rows (9.8 MB)": ("rows.csv", "text\n" + "".join(f"row {i} of the csv\n" for i in range(450_000))),
        "a 99k-character JSONL line": ("line.jsonl", json.dumps({"text": "あ" * 99_000}, ensure_ascii=False) + "\n"),
        "the sample corpora (160 KB)": ("corpus.txt", "\n".join(
            (ROOT / "training" / "seed" / "corpora" / name).read_text(encoding="utf-8")
            for name in ("en-pirate-log.txt", "ja-haiku-diary.txt"))),
    }


def measure(name: str, filename: str, text: str, queue) -> None:
    from training.engine import DatasetError, check_dataset

    directory = tempfile.mkdtemp(prefix="llmschool-bench-check-")
    path = os.path.join(directory, filename)
    Path(path).write_text(text, encoding="utf-8")
    started = time.process_time()
    try:
        report = check_dataset(path, base_kinds=("scratch:tiny", "gpt2"))
        outcome = f"{report.tokens:,} tokens, {report.lines:,} lines"
    except DatasetError as error:
        outcome = f"refused: {error.code} {error.params}"
    seconds = time.process_time() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    queue.put(f"{name:30} {os.path.getsize(path) / 1e6:6.1f} MB {seconds:7.2f} s CPU {rss:6d} MB max RSS   {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="names of cases to run (substrings)")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    context = multiprocessing.get_context("spawn")
    for name, (filename, text) in cases().items():
        if args.only and not any(part in name for part in args.only):
            continue
        queue = context.Queue()
        process = context.Process(target=measure, args=(name, filename, text, queue))
        process.start()
        process.join()
        print(queue.get() if not queue.empty() else f"{name:30} failed (exit code {process.exitcode})", flush=True)


if __name__ == "__main__":
    main()
