"""Run log lines: stored as codes with parameters, said in the reader's language.

A line in `TrainingRun.log_lines` is {"t": ISO time, "code": "...", "params": {...}} and,
for lines from the engine, "message": its English sentence (the fallback for a code this
catalogue does not know). Parameters stay plain numbers and strings; they are formatted
here, when the line is shown, so a loss reads 2.3456 on every page in every language.
Runs logged before codes existed hold strings "HH:MM:SS message": shown as they are.

The engine (training/engine/trainer.py) emits its codes through `Progress(code=, params=)`;
the job (training/jobs.py) and the lifecycle (training/lifecycle.py) make theirs with
`entry()`. Every code any of them emits has a line in LINES (tests/training/test_logtext.py).
"""
import re

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from training.reasons import run_failure

# Formats of parameters by name; other ints get thousands separators, other floats :g.
LOSS, BPC, PLAIN = "{:.4f}", "{:.3f}", "{}"
FORMATS = {
    "train_loss": LOSS, "val_loss": LOSS, "base_val_loss": LOSS, "best_val_loss": LOSS,
    "val_bpc": BPC, "base_val_bpc": BPC, "perplexity": "{:.1f}", "pid": PLAIN, "r": PLAIN,
    "tokens_per_second": "{:,.0f}",
}

LINES = {
    # The engine
    "data": _("Data: %(tokens)s tokens, %(train_blocks)s training and %(val_blocks)s validation blocks of "
              "%(block_size)s."),
    "base_scratch": _("From scratch: GPT-2 preset %(model_preset)s, vocabulary of %(vocab_size)s trained on your text, "
                      "%(parameters)s parameters."),
    "base_pretrained": _("Base model %(base)s: %(parameters)s parameters."),
    "lora": _("LoRA r=%(r)s: training %(parameters)s adapter parameters."),
    "chat_tokens": _("Added %(count)s chat tokens to the vocabulary (their embeddings start untrained)."),
    "base_eval": _("Base model: validation loss %(val_loss)s, perplexity %(perplexity)s, %(val_bpc)s bits per "
                   "character."),
    "start": _("Training for %(total_steps)s steps on %(device)s, %(threads)s threads."),
    "start_bf16": _("Training for %(total_steps)s steps on %(device)s with bf16 autocast, %(threads)s threads."),
    "patience": _("Early stopping after %(patience)s evaluations without improvement."),
    "eval": _("Step %(step)s/%(total_steps)s: training loss %(train_loss)s, validation loss %(val_loss)s "
              "(%(val_bpc)s bits per character)."),
    "checkpoint": _("Checkpoint saved at step %(step)s."),
    "checkpoint_ignored": _("A checkpoint from different settings or data was found and ignored."),
    "resumed": _("Resumed from the checkpoint at step %(step)s."),
    "overfitting": _("Warning at step %(step)s: validation loss is rising (%(best_val_loss)s → %(val_loss)s) "
                     "while training loss falls: the model starts to memorise the text (overfitting)."),
    "early_stop": _("Early stop at step %(step)s: validation loss has not improved for %(patience)s evaluations "
                    "(best %(best_val_loss)s at step %(best_step)s); the model from that step is kept."),
    "stopped_time_limit": _("Stopped at step %(step)s: the training time limit of %(seconds)s s was reached (the "
                            "machine was slower than measured); the best model so far (step %(best_step)s) is "
                            "kept."),
    "stopped_max_steps": _("Stopped at step %(step)s: the maximum number of steps reached."),
    "stopped_epochs": _("Stopped at step %(step)s after %(epochs)s epochs."),
    "finishing": _("Training steps done; writing samples and saving the model."),
    "done": _("Done: validation loss %(base_val_loss)s → %(val_loss)s, %(base_val_bpc)s → %(val_bpc)s bits per "
              "character."),
    # The job
    "attempt_started": _("Attempt %(attempt)s started on worker process %(pid)s."),
    "attempt_resumed": _("Attempt %(attempt)s: resuming from the checkpoint of attempt %(from_attempt)s "
                         "(step %(step)s)."),
    "plan_budget_measured": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over "
                              "the text), from the %(preset)s preset's budget of %(budget_seconds)s s at "
                              "%(tokens_per_second)s tokens/s measured on the workers."),
    "plan_budget_guessed": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over "
                             "the text), from the %(preset)s preset's budget of %(budget_seconds)s s at "
                             "%(tokens_per_second)s tokens/s guessed from the model size."),
    "plan_epoch_cap_measured": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes "
                                 "over the text), from at most %(max_epochs)s passes over the text (the %(preset)s "
                                 "preset's budget of %(budget_seconds)s s at %(tokens_per_second)s tokens/s "
                                 "measured on the workers would allow %(budget_steps)s steps)."),
    "plan_epoch_cap_guessed": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes "
                                "over the text), from at most %(max_epochs)s passes over the text (the %(preset)s "
                                "preset's budget of %(budget_seconds)s s at %(tokens_per_second)s tokens/s "
                                "guessed from the model size would allow %(budget_steps)s steps)."),
    "plan_epochs": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over the text), "
                     "from the epochs you set."),
    "plan_max_steps": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over the "
                        "text), from the maximum steps you set."),
    "finished": _("Training finished; the model archive is ready."),
    # The lifecycle (job, RQ hooks, reconciler)
    "cancelled": _("Cancelled."),
    "requeued": _("Queued again as attempt %(attempt)s; it resumes from its newest checkpoint."),
    "retry": _("%(reason)s; resuming from the last checkpoint (step %(step)s), attempt %(attempt)s of "
               "%(max_attempts)s."),
    "failed": _("Failed: %(reason)s."),
}

# An instruction run (TrainingRun.is_instruction) learns and is measured on the assistant's
# answers only: its lines with these codes say so (same parameters; the engine emits the same
# codes for both tasks, so the runs logged before this catalogue read right too).
INSTRUCTION_LINES = {
    "data": _("Data: %(tokens)s tokens, %(train_blocks)s training blocks and %(val_blocks)s blocks of held-out "
              "conversations, of %(block_size)s tokens."),
    "base_scratch": _("From scratch: GPT-2 preset %(model_preset)s, vocabulary of %(vocab_size)s trained on your "
                      "conversations, %(parameters)s parameters."),
    "base_eval": _("Base model: loss on held-out answers %(val_loss)s, perplexity %(perplexity)s, %(val_bpc)s "
                   "bits per character."),
    "eval": _("Step %(step)s/%(total_steps)s: training loss %(train_loss)s, loss on held-out answers "
              "%(val_loss)s (%(val_bpc)s bits per character)."),
    "overfitting": _("Warning at step %(step)s: the loss on held-out answers is rising (%(best_val_loss)s → "
                     "%(val_loss)s) while training loss falls: the model starts to memorise its training "
                     "conversations (overfitting)."),
    "early_stop": _("Early stop at step %(step)s: the loss on held-out answers has not improved for %(patience)s "
                    "evaluations (best %(best_val_loss)s at step %(best_step)s); the model from that step is "
                    "kept."),
    "done": _("Done: loss on held-out answers %(base_val_loss)s → %(val_loss)s, %(base_val_bpc)s → %(val_bpc)s "
              "bits per character."),
    "plan_budget_measured": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over "
                              "the conversations), from the %(preset)s preset's budget of %(budget_seconds)s s at "
                              "%(tokens_per_second)s tokens/s measured on the workers."),
    "plan_budget_guessed": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over "
                             "the conversations), from the %(preset)s preset's budget of %(budget_seconds)s s at "
                             "%(tokens_per_second)s tokens/s guessed from the model size."),
    "plan_epoch_cap_measured": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes "
                                 "over the conversations), from at most %(max_epochs)s passes over the "
                                 "conversations (the %(preset)s preset's budget of %(budget_seconds)s s at "
                                 "%(tokens_per_second)s tokens/s measured on the workers would allow "
                                 "%(budget_steps)s steps)."),
    "plan_epoch_cap_guessed": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes "
                                "over the conversations), from at most %(max_epochs)s passes over the "
                                "conversations (the %(preset)s preset's budget of %(budget_seconds)s s at "
                                "%(tokens_per_second)s tokens/s guessed from the model size would allow "
                                "%(budget_steps)s steps)."),
    "plan_epochs": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over the "
                     "conversations), from the epochs you set."),
    "plan_max_steps": _("Plan: %(steps)s steps of %(tokens_per_step)s tokens (about %(epochs)s passes over the "
                        "conversations), from the maximum steps you set."),
}

PRESET_NAMES = {"quick": _("Quick"), "standard": _("Standard"), "long": _("Long")}
DEVICE_NAMES = {"cpu": "CPU", "cuda": "GPU"}
LEFTOVER = re.compile(r"%\([a-z_]+\)s")


def entry(code: str, params: dict | None = None, message: str = "") -> dict:
    """A log line made now; `message` (English) is kept for codes the catalogue may not know."""
    line = {"t": timezone.now().isoformat(), "code": code, "params": dict(params or {})}
    if message:
        line["message"] = message
    return line


def say(code: str, params: dict, *, instruction: bool = False) -> str:
    """The line's text in the active language (an instruction run's wording where it has one);
    KeyError for an unknown code or a missing parameter."""
    text = INSTRUCTION_LINES.get(code) if instruction else None
    return str(text or LINES[code]) % {name: _format(name, value) for name, value in params.items()}


def line_text(line, *, instruction: bool = False) -> str:
    """One stored line as "HH:MM:SS text" in the active language (old string lines as they are);
    `instruction`: the line belongs to an instruction run."""
    if not isinstance(line, dict):
        return str(line)
    when = parse_datetime(str(line.get("t") or ""))
    clock = f"{timezone.localtime(when):%H:%M:%S} " if when else ""
    try:
        text = say(line.get("code", ""), line.get("params") or {}, instruction=instruction)
    except (KeyError, TypeError, ValueError):
        text = line.get("message") or line.get("code", "")
    return clock + text


def lines_text(lines, *, instruction: bool = False) -> list[str]:
    return [line_text(line, instruction=instruction) for line in lines or []]


def _format(name: str, value) -> str:
    if name == "reason":
        return str(run_failure(value)[0])
    if name == "preset":
        return str(PRESET_NAMES.get(value, value))
    if name == "device":
        return DEVICE_NAMES.get(value, str(value))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if name in FORMATS:
        return FORMATS[name].format(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
