"""Cost of the lab's chat-template view in the web process (training.engine.chat_view): the
first call builds GPT-2's tokenizer with the chat tokens (then cached), later calls only
tokenize. Prints the cold time, warm p50/p95/max in milliseconds for conversations up to the
lab's cap (3 x 300 characters), and whether torch or transformers got imported.

    .venv/bin/python bench/chat_template.py [--requests 200]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SAMPLES = ["東京メトロに乗って、猫カフェへ行く。", "What is a token? A piece of text with its own id. ",
           "昔々、あるところにおじいさんとおばあさんが住んでいました。", "The cat sat on the mat. "]
CAP = 300  # training.lab.services.MAX_CHAT_MESSAGE_CHARS (not imported: no Django here)


def conversation(index: int, length: int) -> list[dict]:
    text = lambda offset: (SAMPLES[(index + offset) % len(SAMPLES)] * 40)[:length]  # noqa: E731
    return [{"role": "system", "content": text(0)}, {"role": "user", "content": text(1)},
            {"role": "assistant", "content": text(2)}]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from training.engine.chat_view import chat_token_view
    from training.engine.tokenization import gpt2_tokenizer_dir

    directory = gpt2_tokenizer_dir()
    start = time.perf_counter()
    first = chat_token_view(directory, conversation(0, 20))
    cold = (time.perf_counter() - start) * 1000
    print(f"cold (build and cache the tokenizer): {cold:.1f} ms, {first['count']} tokens")
    for length in (20, 100, CAP):
        times, tokens = [], 0
        for index in range(args.requests):
            start = time.perf_counter()
            view = chat_token_view(directory, conversation(index, length))
            times.append((time.perf_counter() - start) * 1000)
            tokens = max(tokens, view["count"])
        times.sort()
        print(f"3 messages x {length:>3} chars (up to {tokens} tokens): p50 {statistics.median(times):.2f} ms, "
              f"p95 {times[int(len(times) * 0.95) - 1]:.2f} ms, max {times[-1]:.2f} ms")
    print("imported:", [name for name in ("torch", "transformers") if name in sys.modules] or "neither torch nor transformers")


if __name__ == "__main__":
    main()
