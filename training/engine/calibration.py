"""How fast this machine trains a base model: a few real optimizer steps on random tokens.

Run on the training worker (the management command `calibrate_training`, or the worker's
calibration job for bases that have no figure yet), never in the web process. The presets
turn the measured tokens per second into a number of steps (presets.preset_plan); every
finished run then refines the figure with its own measured speed.
"""
import time

from .bases import load_pretrained, resolve_pretrained, run_export_dir, scratch_config
from .fastloss import causal_lm_loss, use_fused_gelu
from .runtime import choose_num_threads, pick_device, reuse_freed_memory, use_bf16

SCRATCH_VOCAB = 4000  # about the vocabulary a from-scratch run trains; the speed hardly depends on it


def calibrate(*, base_kind: str, base_source: str, block_size: int = 128, batch_size: int = 8,
              steps: int = 6, warmup_steps: int = 2, cache_dir: str | None = None, offline: bool = True,
              num_threads: int | None = None, bf16="auto", seed: int = 0) -> dict:
    """{"tokens_per_second", "device", "threads", "parameters", "seconds"} of `steps` timed steps
    (after `warmup_steps` that build kernels and allocate optimizer state)."""
    import torch

    previous_threads = torch.get_num_threads()
    threads = choose_num_threads(num_threads)
    torch.set_num_threads(threads)
    try:
        with reuse_freed_memory():
            torch.manual_seed(seed)
            model = _model(base_kind, base_source, block_size, cache_dir, offline)
            device = pick_device()
            low_precision = torch.bfloat16 if use_bf16(bf16, device) else None
            model.loss_type = "ForCausalLM"
            use_fused_gelu(model)
            model.to(device).train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            vocab = model.config.vocab_size
            batch = torch.randint(0, vocab, (batch_size, block_size), device=device)
            started = 0.0
            for step in range(warmup_steps + steps):
                if step == warmup_steps:
                    if device == "cuda":
                        torch.cuda.synchronize()
                    started = time.perf_counter()
                with (torch.autocast(device, dtype=low_precision) if low_precision else _nothing()):
                    loss = causal_lm_loss(model, batch, low_precision=low_precision)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = max(time.perf_counter() - started, 1e-6)
            return {"tokens_per_second": round(steps * batch_size * block_size / seconds, 1), "device": device,
                    "threads": threads, "parameters": int(model.num_parameters()), "seconds": round(seconds, 3)}
    finally:
        torch.set_num_threads(previous_threads)


def _model(base_kind, base_source, block_size, cache_dir, offline):
    if base_kind == "scratch":
        from transformers import GPT2LMHeadModel

        return GPT2LMHeadModel(scratch_config(base_source, vocab_size=SCRATCH_VOCAB, block_size=block_size,
                                              eos_token_id=0))
    directory = run_export_dir(base_source) if base_kind == "run" else resolve_pretrained(
        base_source, cache_dir=cache_dir, offline=offline)
    model, _tokenizer = load_pretrained(directory, base_source)
    return model


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
