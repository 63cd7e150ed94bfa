"""Rough duration of a run on this machine, from the model's size and a one-off measurement
of how fast this machine multiplies matrices."""
import functools
import json
import math
import os
import time

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
# Fitted to bench/train_throughput.py runs of the engine (GPT-2 124M, tiny and small presets):
# a step achieves this share of the measured matmul speed, plus element-wise work (norms,
# dropout, activations) costing about this many matmul FLOPs per layer x width x token.
MATMUL_EFFICIENCY = 0.8
ELEMENTWISE_FLOPS = 30_000


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


@functools.lru_cache(maxsize=2)
def machine_flops(bf16: bool) -> float:
    """Matmul FLOP/s of this machine's training threads, measured once (about 0.1 s).

    CPU time of one thread is measured (stable when the machine is busy), then scaled by
    the number of threads training will use.
    """
    import torch

    from .runtime import usable_cores

    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(512, 768, dtype=dtype), torch.randn(768, 2048, dtype=dtype)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(3):  # warm-up: the first calls build the kernels
            a @ b
        repeats, started = 10, time.process_time()
        for _ in range(repeats):
            a @ b
        seconds = max(time.process_time() - started, 1e-6)
    finally:
        torch.set_num_threads(threads)
    per_core = repeats * 2 * 512 * 768 * 2048 / seconds
    return per_core * min(2, usable_cores()) * 0.9


def estimate_seconds(tokens: int, *, base: str, epochs: float = 1.0, block_size: int = 128,
                     batch_size: int = 8, max_steps: int | None = None) -> float:
    from .runtime import cpu_has_bf16

    layers, width, vocab = architecture(base)
    blocks = max(1, tokens // block_size)
    steps = max_steps or max(1, math.ceil(epochs * blocks / batch_size))
    step_tokens = batch_size * block_size
    work = step_tokens * (flops_per_token(layers, width, vocab, block_size) / MATMUL_EFFICIENCY
                          + ELEMENTWISE_FLOPS * layers * width)
    step_seconds = work / machine_flops(cpu_has_bf16())
    # About ten evaluations on up to 64 validation blocks, a forward pass costing a third of a step.
    eval_batches = math.ceil(min(64, max(1, blocks // 10)) / batch_size)
    evaluations = 11 * eval_batches * step_seconds / 3
    # Set-up, samples before and after, and export grow with the model's size.
    fixed = 3.0 + 2e-7 * (12 * layers * width * width + vocab * width)
    return round(steps * step_seconds + evaluations + fixed, 1)
