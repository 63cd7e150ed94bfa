#!/usr/bin/env python3
"""Validate the sample instruction datasets (training/seed/instructions/*.jsonl).

    .venv/bin/python training/seed/instructions/check_instructions.py

Every line must be one JSON object {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}
with non-empty, trimmed contents; no question may appear twice; each file needs at least
MIN_PAIRS pairs; answers stay short (1-3 sentences) so that a whole pair, rendered with a simple
chat template, fits in one 256-token block of the GPT-2 tokenizer. The token check runs when the
project venv (transformers) is available; the other checks need only Python.
"""
from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
MIN_PAIRS = 300
MAX_ANSWER_CHARS = {"en": 300, "ja": 150}
MAX_QUESTION_CHARS = {"en": 150, "ja": 60}
BLOCK_TOKENS = 256
# The markers training/engine/chat.py reserves: an upload holding one literally is refused.
CHAT_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
# Only for measuring length: a plain template in the style lesson 7 shows.
TEMPLATE = "<|user|>\n{user}<|end|>\n<|assistant|>\n{assistant}<|end|>"


def _gpt2_tokenizer():
    try:
        from transformers import GPT2TokenizerFast
    except Exception:  # no venv: skip the token check
        return None
    assets = ROOT / "training" / "engine" / "assets" / "gpt2"
    # from_pretrained, not the constructor: in transformers 5, vocab_file= builds a one-token tokenizer.
    tokenizer = GPT2TokenizerFast.from_pretrained(str(assets), local_files_only=True)
    assert len(tokenizer("Hello world")["input_ids"]) == 2, "the GPT-2 tokenizer did not load properly"
    return tokenizer


def _key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def check_file(path: Path, tokenizer) -> tuple[list[str], dict]:
    lang = path.name[:2]
    errors: list[str] = []
    seen_questions: dict[str, int] = {}
    answers: set[str] = set()
    longest = 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        where = f"{path.name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not JSON ({exc})")
            continue
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or [m.get("role") for m in messages if isinstance(m, dict)] != ["user", "assistant"]:
            errors.append(f"{where}: needs messages [user, assistant]")
            continue
        if set(record) != {"messages"} or any(set(m) != {"role", "content"} for m in messages):
            errors.append(f"{where}: unexpected keys")
        user, assistant = (m.get("content") for m in messages)
        if not all(isinstance(t, str) and t.strip() and t == t.strip() for t in (user, assistant)):
            errors.append(f"{where}: empty or untrimmed content")
            continue
        if any(marker in text for marker in CHAT_MARKERS for text in (user, assistant)):
            errors.append(f"{where}: contains a chat-template marker (the upload check refuses it)")
        if len(assistant) > MAX_ANSWER_CHARS[lang]:
            errors.append(f"{where}: answer has {len(assistant)} characters (max {MAX_ANSWER_CHARS[lang]})")
        if len(user) > MAX_QUESTION_CHARS[lang]:
            errors.append(f"{where}: question has {len(user)} characters (max {MAX_QUESTION_CHARS[lang]})")
        if lang == "ja" and not assistant.rstrip("）)」").endswith(("。", "！", "？")):
            errors.append(f"{where}: a Japanese answer ends with a full sentence (。)")
        key = _key(user)
        if key in seen_questions:
            errors.append(f"{where}: same question as line {seen_questions[key]}")
        seen_questions.setdefault(key, number)
        answers.add(assistant)
        if tokenizer is not None:
            count = len(tokenizer(TEMPLATE.format(user=user, assistant=assistant))["input_ids"])
            longest = max(longest, count)
            if count > BLOCK_TOKENS:
                errors.append(f"{where}: {count} GPT-2 tokens with the template (max {BLOCK_TOKENS})")
    if len(lines) < MIN_PAIRS:
        errors.append(f"{path.name}: {len(lines)} pairs, needs >= {MIN_PAIRS}")
    return errors, {"pairs": len(lines), "distinct answers": len(answers),
                    "longest pair (GPT-2 tokens)": longest if tokenizer else "n/a"}


def main() -> int:
    tokenizer = _gpt2_tokenizer()
    failed = False
    for path in sorted(HERE.glob("*.jsonl")):
        errors, figures = check_file(path, tokenizer)
        print(path.name, ", ".join(f"{k}: {v}" for k, v in figures.items()))
        for error in errors:
            print("  ERROR", error)
        failed |= bool(errors)
    print("FAILED" if failed else "all ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
