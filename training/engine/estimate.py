"""How long a run takes, from the training speed the worker measured (tokens per second, see
calibration.py), or, for a base that has not been measured yet, a conservative guess from the
model's size. Plain Python: no torch, so the web process can call it."""
import json
import math
import os

from .config import MODEL_PRESETS

# Architectures of the hub models students are likely to name (layers, width, vocabulary).
KNOWN_BASES = {
    "gpt2": (12, 768, 50257),
    "distilgpt2": (6, 768, 50257),
    "distilbert/distilgpt2": (6, 768, 50257),
    "openai-community/gpt2": (12, 768, 50257),
    "gpt2-medium": (24, 1024, 50257),
    "openai-community/gpt2-medium": (24, 1024, 50257),
    "rinna/japanese-gpt2-medium": (24, 1024, 32000),
    "rinna/japanese-gpt2-small": (12, 768, 32000),
    "rinna/japanese-gpt2-xsmall": (6, 512, 32000),
}
SCRATCH_VOCAB = 4000
# The guess for a base nobody has measured yet: the FLOP/s of a busy 2-core CPU (a measured
# tiny model trains about four times faster on an idle one), so a first run rather ends early
# than overruns its budget; the first calibration replaces it.
CONSERVATIVE_FLOPS = 15e9
# Set-up (tokenizer, model), the evaluation and samples before and after, and export: seconds
# per million parameters, plus a constant.
FIXED_SECONDS = 4.0
FIXED_SECONDS_PER_MILLION_PARAMETERS = 0.15


def architecture(base: str) -> tuple[int, int, int]:
    """(layers, width, vocabulary) for "scratch:<preset>", a known hub id, or a model directory."""
    if base.startswith("scratch:"):
        preset = MODEL_PRESETS.get(base.split(":", 1)[1], MODEL_PRESETS["tiny"])
        return preset["n_layer"], preset["n_embd"], SCRATCH_VOCAB
    if base in KNOWN_BASES:
        return KNOWN_BASES[base]
    for path in (os.path.join(base, "config.json"), os.path.join(base, "export", "config.json")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
            return config.get("n_layer", 12), config.get("n_embd", 768), config.get("vocab_size", 50257)
    return KNOWN_BASES["gpt2"]


def flops_per_token(layers: int, width: int, vocab: int, block_size: int) -> float:
    """Forward + backward: 6 x parameters used per token, plus attention over the block."""
    parameters = 12 * layers * width * width + vocab * width
    attention = 6 * layers * block_size * width
    return 6 * parameters + attention


def parameters(base: str) -> int:
    layers, width, vocab = architecture(base)
    return 12 * layers * width * width + vocab * width


def fallback_tokens_per_second(base: str, block_size: int = 128) -> float:
    """Training speed for a base that was never measured (see CONSERVATIVE_FLOPS)."""
    layers, width, vocab = architecture(base)
    return round(CONSERVATIVE_FLOPS / flops_per_token(layers, width, vocab, block_size), 1)


def fixed_seconds(base: str) -> float:
    return FIXED_SECONDS + FIXED_SECONDS_PER_MILLION_PARAMETERS * parameters(base) / 1e6


def estimate_seconds(tokens: int, *, base: str, epochs: float = 1.0, block_size: int = 128,
                     batch_size: int = 8, grad_accum: int = 1, max_steps: int | None = None,
                     tokens_per_second: float | None = None) -> float:
    """Seconds for the whole run: its steps at the measured speed (or the conservative guess),
    plus set-up, evaluations, samples and export."""
    speed = tokens_per_second or fallback_tokens_per_second(base, block_size)
    blocks = max(1, tokens // block_size)
    steps = max_steps or max(1, math.ceil(epochs * blocks / batch_size / grad_accum))
    train = steps * batch_size * grad_accum * block_size / max(speed, 1e-6)
    # About sixteen evaluations on up to 64 validation blocks, a forward pass costing a third of a step.
    evaluations = 16 * min(64, max(1, blocks // 10)) * block_size / max(speed, 1e-6) / 3
    return round(train + evaluations + fixed_seconds(base), 1)
