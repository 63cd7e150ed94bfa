"""Presets are training-time budgets, not epochs: a plain-Python plan (no torch) that turns a
preset, the base model and the measured speed of the training worker into concrete settings.

    plan = preset_plan("quick", base_kind="scratch", base_source="tiny", parameters=1_300_000,
                       tokens=40_000, tokens_per_second=9_000)
    plan["hyperparameters"]  # max_steps, batch_size, learning_rate, ... for TrainConfig

How the number of steps is chosen (lesson 5 states the same rules):
1. The preset's budget (quick 1 min, standard 5 min, long 20 min) times the speed the worker
   measured for this base, batch and block size (tokens per second) gives the tokens the run
   can read; divided by the tokens of one step (batch x accumulation x block) that is the steps.
2. A small text must not be read so often that the model memorises it: the steps are capped at
   `max_epochs` passes over the training blocks. The cap shrinks as the model grows relative
   to the text (max_epochs = 400 x sqrt(tokens / parameters), between 2 and 100).
3. Early stopping: the run ends sooner when validation loss has not improved for
   `EARLY_STOPPING_PATIENCE` evaluations in a row; the exported weights are the best ones seen.
4. A time guard: if the worker is slower than it measured, the run stops at
   `TIME_GUARD_FACTOR` times its budget (after one last evaluation), on the best weights.

A student may set epochs or maximum steps in the advanced settings: maximum steps wins over
epochs, and either replaces the time budget (early stopping still applies).
"""
import math

from .config import MODEL_PRESETS

HYPER_PRESETS: dict[str, dict] = {
    "quick": {"budget_seconds": 60},
    "standard": {"budget_seconds": 300},
    "long": {"budget_seconds": 1200},
}
PRESET_NAMES = tuple(HYPER_PRESETS)

EVALUATIONS_PER_RUN = 16
TIME_GUARD_FACTOR = 1.5  # a preset's run stops at 1.5x its budget even if its steps are not done
EARLY_STOPPING_PATIENCE = 4  # evaluations without a new best validation loss (a quarter of the run)
MAX_EPOCHS_FACTOR = 400
MAX_EPOCHS_RANGE = (2.0, 100.0)
VAL_FRACTION = 0.1  # TrainConfig's default split: the training blocks are the other 90 %

# Batch, learning rate and warm-up by kind of base. From scratch a tiny model learns fast with a
# high learning rate and a short warm-up; a pretrained model only needs nudging (5e-5), LoRA's
# small adapters take a larger rate (3e-4). Gradient accumulation keeps an effective batch of 8
# for pretrained models while only 4 blocks are in memory at once.
SCRATCH_LEARNING_RATES = {"tiny": 2e-3, "small": 1e-3}
SETTINGS = {
    "scratch": {"batch_size": 8, "grad_accum": 1, "block_size": 128, "warmup_ratio": 0.02},
    "pretrained": {"batch_size": 4, "grad_accum": 2, "block_size": 128, "warmup_ratio": 0.05},
}


def default_learning_rate(base_kind: str, base_source: str = "", lora: bool = False) -> float:
    """The learning rate a run uses when none is given (TrainConfig.learning_rate=None)."""
    if base_kind == "scratch":
        return SCRATCH_LEARNING_RATES.get(base_source, 1e-3)
    return 3e-4 if lora else 5e-5


def max_epochs(*, tokens: int, parameters: int) -> float:
    """Passes over the text a run may make: fewer when the model is large for the text."""
    low, high = MAX_EPOCHS_RANGE
    ratio = max(tokens, 1) / max(parameters, 1)
    return round(min(high, max(low, MAX_EPOCHS_FACTOR * math.sqrt(ratio))), 1)


def scratch_parameters(preset: str, vocab_size: int = 4000) -> int:
    """Parameters of a from-scratch preset (tied embeddings), without torch."""
    shape = MODEL_PRESETS.get(preset, MODEL_PRESETS["tiny"])
    width, layers = shape["n_embd"], shape["n_layer"]
    return 12 * layers * width * width + (vocab_size + shape["n_positions"]) * width


def preset_plan(preset: str, *, base_kind: str, base_source: str, parameters: int, tokens: int,
                tokens_per_second: float, overrides: dict | None = None, val_fraction: float = VAL_FRACTION) -> dict:
    """Settings for a run of `preset`: {"hyperparameters": {...}, "plan": {...}}.

    `tokens` are counted with the tokenizer the run will use; `tokens_per_second` is the speed
    measured for this base on the worker; `overrides` are the student's own values (bounded by
    the caller): epochs, max_steps, batch_size, block_size, learning_rate, lora.
    """
    if preset not in HYPER_PRESETS:
        raise ValueError(f"unknown preset {preset!r}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None and v != ""}
    kind = "scratch" if base_kind == "scratch" else "pretrained"
    settings = dict(SETTINGS[kind])
    lora = bool(overrides.get("lora"))
    settings["learning_rate"] = default_learning_rate(base_kind, base_source, lora)
    settings["early_stopping_patience"] = EARLY_STOPPING_PATIENCE
    for key in ("batch_size", "block_size", "learning_rate", "grad_accum", "warmup_ratio"):
        if key in overrides:
            settings[key] = overrides[key]
    from .data import validation_blocks  # the engine's own split (numpy only: no torch here)

    block_size, grad_accum = int(settings["block_size"]), int(settings["grad_accum"])
    blocks = max(2, int(tokens // block_size))
    train_blocks = max(1, blocks - validation_blocks(blocks, block_size=block_size, val_fraction=val_fraction))
    if "batch_size" not in overrides:
        # At least about eight steps per pass over a small text.
        settings["batch_size"] = max(1, min(int(settings["batch_size"]), train_blocks // 8 or 1))
    batch_size = int(settings["batch_size"])
    tokens_per_step = batch_size * grad_accum * block_size
    # As the engine counts an epoch: optimizer steps of batch x accumulation blocks.
    steps_per_epoch = max(1, math.ceil(train_blocks / (batch_size * grad_accum)))
    budget_seconds = HYPER_PRESETS[preset]["budget_seconds"]
    budget_steps = max(1, int(budget_seconds * tokens_per_second / tokens_per_step))
    cap = max_epochs(tokens=tokens, parameters=parameters)
    cap_steps = max(1, math.ceil(cap * steps_per_epoch))
    if overrides.get("max_steps"):
        steps, limited_by = int(overrides["max_steps"]), "max_steps"
    elif overrides.get("epochs"):
        steps, limited_by = max(1, math.ceil(float(overrides["epochs"]) * steps_per_epoch)), "epochs"
        settings["epochs"] = float(overrides["epochs"])
    elif budget_steps <= cap_steps:
        steps, limited_by = budget_steps, "budget"
    else:
        steps, limited_by = cap_steps, "epoch_cap"
    if limited_by != "epochs":
        # The engine counts the epochs itself from the real blocks; every other limit is a number of steps.
        settings["max_steps"] = steps
    if limited_by in ("budget", "epoch_cap"):
        # A guard, not the plan: the steps above normally end the run. When the worker turns out
        # slower than it measured (a busy machine), the run still ends near its budget.
        settings["max_train_seconds"] = round(budget_seconds * TIME_GUARD_FACTOR)
    settings["eval_every_steps"] = max(1, steps // EVALUATIONS_PER_RUN)
    if lora:
        settings["lora"] = True
    plan = {
        "preset": preset, "budget_seconds": budget_seconds, "tokens": int(tokens),
        "tokens_per_second": round(float(tokens_per_second), 1), "tokens_per_step": tokens_per_step,
        "steps": steps, "limited_by": limited_by, "budget_steps": budget_steps, "max_epochs": cap,
        "epochs": round(steps / steps_per_epoch, 2), "train_seconds": round(steps * tokens_per_step
                                                                           / max(tokens_per_second, 1e-6), 1),
    }
    return {"hyperparameters": settings, "plan": plan}
