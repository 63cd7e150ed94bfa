"""Sample prompts taken from the student's own held-out text: the beginnings of a few lines
of the validation blocks, so a haiku diary is sampled from 「2024年1月3日」, not from
「昔々、ある村に」, and the samples show whether the model learned the text's layout."""
import random

from .corpus import JAPANESE_CHARS

PROMPT_WORDS = 3  # space-separated text: the first words of a line
PROMPT_CHARS = 8  # Japanese (no spaces): the first characters, at most half of the line
MIN_LINE_CHARS = 4


def held_out_prompts(texts: list[str], *, count: int, seed: int) -> list[str]:
    """`count` distinct line beginnings from the decoded validation blocks, chosen by seed.

    The first line of a block may start in the middle of a line, so it is skipped; lines
    with a broken character (a block edge cutting one) are skipped too. A text without line
    breaks gives the beginning of its blocks' second sentence instead."""
    if count <= 0:
        return []
    complete, cut = [], []
    for text in texts:
        pieces = text.split("\n")
        complete.extend(pieces[1:-1])  # whole lines
        cut.extend(pieces[-1:] if len(pieces) > 1 else [])  # a line start, maybe cut by the block end
    candidates = _beginnings(complete)
    if len(candidates) < count:  # few whole lines: also lines the block end may have cut
        long_cut = [line for line in cut if len(line.strip()) >= 2 * MIN_LINE_CHARS]
        candidates += [p for p in _beginnings(long_cut) if p not in candidates]
    if not candidates:
        for text in texts:
            for marker in ("。", ". ", "! ", "? "):
                if marker in text:
                    prompt = line_beginning(text.split(marker, 1)[1])
                    if prompt and prompt not in candidates:
                        candidates.append(prompt)
                    break
    rng = random.Random(seed)
    shuffled = rng.sample(candidates, len(candidates))
    # Prefer beginnings that differ in their first word ("Day 3 aboard", "Shanty: And", ...):
    # a diary whose lines all start with a date still gets one prompt of each kind of line.
    chosen, heads = [], set()
    for prompt in shuffled:
        if _head(prompt) not in heads:
            chosen.append(prompt)
            heads.add(_head(prompt))
    chosen += [prompt for prompt in shuffled if prompt not in chosen]
    return chosen[:count]


def _head(prompt: str) -> str:
    words = prompt.split(" ")
    return words[0] if len(words) > 1 else prompt[:2]


def _beginnings(lines: list[str]) -> list[str]:
    found: list[str] = []
    for line in lines:
        prompt = line_beginning(line)
        if prompt and prompt not in found:
            found.append(prompt)
    return found


def line_beginning(line: str) -> str:
    line = line.strip()
    if len(line) < MIN_LINE_CHARS or "\ufffd" in line or not any(ch.isalnum() for ch in line):
        return ""
    words = line.split(" ")
    if len(JAPANESE_CHARS.findall(line)) * 2 < len(line) and len(words) > 1:
        return " ".join(words[:min(PROMPT_WORDS, len(words) - 1)])  # leave a word to continue
    return line[:max(2, min(PROMPT_CHARS, len(line) // 2))]
