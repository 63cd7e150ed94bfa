"""Small formatting filters for the training pages."""
import math

from django import template
from django.utils.translation import gettext as _

from training.models import TrainingRun

register = template.Library()

STATUS_BADGES = {
    TrainingRun.QUEUED: "badge-info",
    TrainingRun.RUNNING: "badge-warn",
    TrainingRun.SUCCEEDED: "badge-ok",
    TrainingRun.FAILED: "badge-danger",
    TrainingRun.CANCELLED: "",
}


@register.filter
def duration(seconds):
    """12 s, 3 min 20 s, 1 h 5 min; "—" when unknown."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(s)s s") % {"s": seconds}
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": secs} if secs and minutes < 10 else _("%(m)s min") % {
            "m": minutes}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}


@register.filter
def loss(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{value:.3f}" if math.isfinite(value) else "—"


@register.filter
def perplexity(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(value):
        return "∞"
    return f"{value:,.1f}" if value < 1e6 else f"{value:.2e}"


@register.filter
def number(value):
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


@register.filter
def percent(value):
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def status_badge(status):
    return STATUS_BADGES.get(status, "")


def _setting_labels() -> dict:
    return {
        "epochs": _("Epochs"),
        "learning_rate": _("Learning rate"),
        "batch_size": _("Batch size"),
        "block_size": _("Block size"),
        "max_steps": _("Maximum steps"),
        "lora": "LoRA",
        "lora_r": _("LoRA rank"),
        "lora_alpha": _("LoRA alpha"),
        "grad_accum": _("Gradient accumulation steps"),
        "warmup_ratio": _("Warm-up share of the steps"),
        "weight_decay": _("Weight decay"),
        "vocab_size": _("Largest vocabulary size"),
        "text_prompts": _("Sample prompts from your text"),
        "sample_max_new_tokens": _("Sample length (tokens)"),
        "seed": _("Random seed"),
        "early_stopping_patience": _("Early stopping: evaluations without improvement"),
        "eval_every_steps": _("Evaluate every (steps)"),
        "max_train_seconds": _("Time limit of the training steps (seconds)"),
    }


@register.filter
def setting_label(key):
    """A run setting's name for people ("grad_accum" -> "Gradient accumulation steps"); "" if unknown."""
    return _setting_labels().get(key, "")
