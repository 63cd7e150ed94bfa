"""Student-facing words for failures, by stable error code.

The engine raises errors with a `code` and `params`; jobs store the code on the run and the
technical detail (traceback) in `error_detail`, which only the admin shows.
"""
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

# Run failure reasons: what happened, and what the student can do about it.
RUN_FAILURES = {
    "not_enough_data": (
        _("Not enough data"),
        _("Your dataset is too small to train on. Add more text (a few pages at least) and start a new run."),
    ),
    "dataset_invalid": (
        _("The dataset could not be read"),
        _("Open the dataset page to see what is wrong with the file, fix it and upload it again."),
    ),
    "dataset_missing": (
        _("The dataset is gone"),
        _("The dataset of this run was deleted. Upload it again and start a new run."),
    ),
    "base_missing": (
        _("Base model missing"),
        _("The base model is not on the training machine. Pick another base model, "
          "or ask an instructor to download it."),
    ),
    "out_of_memory": (
        _("Out of memory"),
        _("The training ran out of memory. Try a smaller batch size or block size, a smaller base model, or LoRA."),
    ),
    "timeout": (
        _("Time limit reached"),
        _("The run took longer than its time limit. Try fewer epochs or set a maximum number of steps."),
    ),
    "worker_lost": (
        _("Worker lost"),
        _("The training worker stopped unexpectedly several times and the run could not be resumed. "
          "Please start the run again; if it keeps happening, tell an instructor."),
    ),
    "diverged": (
        _("The training diverged"),
        _("The loss became NaN or infinite. Start a new run with a lower learning rate."),
    ),
    "invalid_config": (
        _("These settings do not fit this model"),
        _("The base model cannot train with these settings (for example a block size larger than the model "
          "allows). Start a new run with the preset values."),
    ),
    "disk_full": (
        _("The server's disk is full"),
        _("The training could not save its progress because the server ran out of disk space. This is not "
          "your fault: tell an instructor, who can free space and restart the run from its last checkpoint."),
    ),
    "internal": (
        _("Something went wrong on our side"),
        _("This is not your fault. Try again later; an instructor can see the technical details."),
    ),
}


def run_failure(code: str) -> tuple[str, str]:
    return RUN_FAILURES.get(code, RUN_FAILURES["internal"])


def dataset_error_message(code: str, params: dict | None = None) -> str:
    params = params or {}
    if code == "empty":
        return str(_("The file is empty."))
    if code == "not_utf8":
        offset = params.get("offset")
        if offset is not None:
            return str(_("The file is not UTF-8 text (first bad byte at offset %(offset)s). "
                         "Save it as UTF-8 and upload it again.") % {"offset": offset})
        return str(_("The file is not UTF-8 text. Save it as UTF-8 and upload it again."))
    if code == "binary":
        return str(_("This looks like a binary file, not text. Upload a plain text file (.txt)."))
    if code == "too_large":
        limit = params.get("max_bytes")
        if limit:
            return str(_("The file is too large: the limit is %(limit)s.") % {"limit": filesizeformat(limit)})
        return str(_("The file is too large."))
    if code == "too_small":
        return str(_("The text is too short to make even one training block. Add more text."))
    if code == "jsonl_missing_text":
        return str(_("Each line of a .jsonl file must be a JSON object with a \"text\" field."))
    if code == "csv_missing_text":
        return str(_("A .csv file needs a column named \"text\"."))
    return str(_("The file could not be read as a training text."))


def run_stop_reason(run) -> str:
    """Why a finished run stopped training, in the student's language ("" when unknown).

    The engine says whether it stopped early or ran its steps; the run's plan says what those
    steps stood for (the preset's time budget, the cap on passes over the text, or the
    student's own epochs or maximum steps)."""
    metrics = run.metrics or {}
    reason = metrics.get("stop_reason")
    if not reason:
        return ""
    if reason == "early_stopping":
        patience = (run.hyperparameters or {}).get("early_stopping_patience")
        return _("Stopped early at step %(step)s: validation loss had not improved for %(patience)s evaluations. "
                 "The model from step %(best)s, the best one, is kept.") % {
            "step": metrics.get("steps"), "patience": patience, "best": metrics.get("best_step")}
    limited_by = (run.plan or {}).get("limited_by")
    if limited_by == "budget":
        return _("Stopped at step %(step)s: the preset's time budget was used up.") % {"step": metrics.get("steps")}
    if limited_by == "epoch_cap":
        return _("Stopped at step %(step)s after %(epochs)s passes over the text, the most allowed for a text "
                 "of this size (more would make the model memorise it).") % {
            "step": metrics.get("steps"), "epochs": (run.plan or {}).get("max_epochs")}
    if limited_by == "epochs":
        return _("Stopped at step %(step)s: the number of epochs you set was reached.") % {
            "step": metrics.get("steps")}
    return _("Stopped at step %(step)s: the maximum number of steps was reached.") % {"step": metrics.get("steps")}
