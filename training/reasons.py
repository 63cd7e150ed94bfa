"""Student-facing words for failures, by stable error code.

The engine raises errors with a `code` and `params`; jobs store the code on the run and the
technical detail (traceback) in `error_detail`, which only the admin shows.
"""
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

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


# Refusals of a .zip upload; %(name)s, %(names)s, %(count)s and %(max_entries)s come from the engine's params.
ZIP_REFUSALS = {
    "zip_invalid": _("The .zip file is damaged, or uses a compression we cannot read."),
    "zip_too_many": _("The .zip file holds too many entries (at most %(max_entries)s). "
                      "Put just the text file in a zip."),
    "zip_unsafe": _("The .zip file has an entry (\"%(name)s\") that points outside the archive; it was not opened."),
    "zip_nested": _("The .zip file holds another archive (\"%(name)s\"). Put the text file itself in the zip."),
    "zip_no_text": _("The .zip file holds no text file (.txt, .jsonl or .csv)."),
    "zip_many_texts": _("The .zip file holds %(count)s text files (%(names)s). Upload one text at a time."),
    "zip_encrypted": _("The text file in the .zip (\"%(name)s\") is password-protected. Upload it without a password."),
    "zip_bomb": _("The .zip file is compressed far more than text ever is (a zip bomb?); it was not opened."),
}


def _zip_params(params: dict) -> dict:
    return {"name": params.get("name", ""), "names": ", ".join(params.get("names") or []),
            "count": params.get("count", ""), "max_entries": params.get("max_entries", "")}


# One sentence per problem of an instruction dataset's line; %(turn)s is the message's number in
# the conversation, %(role)s the role found.
INSTRUCTION_PROBLEMS = {
    "instr_invalid_json": _("the line is not valid JSON."),
    "instr_not_object": _("the line is not a JSON object."),
    "instr_no_messages": _("the object has neither \"messages\" nor \"instruction\" and \"output\"."),
    "instr_messages_not_list": _("\"messages\" must be a non-empty list of {\"role\", \"content\"} objects."),
    "instr_missing_role": _("message %(turn)s has no \"role\"."),
    "instr_unknown_role": _("message %(turn)s has the role \"%(role)s\"; the roles are system, user and assistant."),
    "instr_missing_content": _("message %(turn)s has no \"content\" text."),
    "instr_empty_answer": _("the assistant's answer (message %(turn)s) is empty."),
    "instr_no_assistant": _("the conversation has no assistant turn, so there is nothing to learn."),
    "instr_ends_without_answer": _("the conversation ends with a question; its last message must be the "
                                   "assistant's answer."),
    "instr_missing_instruction": _("the \"instruction\" is missing or empty."),
    "instr_reserved_token": _("message %(turn)s contains %(token)s, a token the chat template keeps for itself; "
                              "remove it."),
    "instr_empty": _("the file holds no conversation."),
}


def instruction_problem_message(problem: dict) -> str:
    """One problem of an instruction dataset, with its line, in the reader's language."""
    params = {"turn": "", "role": "", "token": "", **(problem.get("params") or {})}
    sentence = str(INSTRUCTION_PROBLEMS.get(problem.get("code"), _("this line cannot be used."))) % params
    if problem.get("line"):
        return str(_("Line %(line)s: %(problem)s") % {"line": problem["line"], "problem": sentence})
    return sentence[:1].upper() + sentence[1:]


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value if value is not None else "?")


def dataset_error_message(code: str, params: dict | None = None) -> str:
    params = params or {}
    if code == "instructions_invalid":
        problems = params.get("problems") or []
        count = params.get("count") or len(problems)
        head = ngettext("The conversations file has %(count)s problem:", "The conversations file has %(count)s "
                        "problems:", count) % {"count": count}
        lines = [instruction_problem_message(problem) for problem in problems]
        more = count - len(lines)
        if more > 0:
            lines.append(ngettext("…and %(count)s more.", "…and %(count)s more.", more) % {"count": more})
        return " ".join([str(head), *lines])
    if code == "instr_no_answer_fits":
        return str(_("No conversation keeps any of its answer within a block of %(block_size)s tokens: shorten "
                     "the conversations or choose a longer block.") % {"block_size": params.get("block_size")})
    if code == "empty":
        return str(_("The file is empty."))
    if code in ("not_utf8", "unknown_encoding"):
        offset = params.get("offset")
        if offset is not None:
            return str(_("The file's encoding was not recognised: it is not UTF-8 (first bad byte at offset "
                         "%(offset)s), Shift_JIS, EUC-JP or UTF-16. Save it as UTF-8 and upload it again.")
                       % {"offset": offset})
        return str(_("The file's encoding was not recognised. Save it as UTF-8 and upload it again."))
    if code == "binary":
        return str(_("This looks like a binary file, not text. Upload a plain text file (.txt), "
                     "or a .zip holding one."))
    if code in ZIP_REFUSALS:
        return str(ZIP_REFUSALS[code]) % _zip_params(params)
    if code == "no_original":
        return str(_("The original upload is not kept for this dataset, so it cannot be prepared again. "
                     "Upload the file again."))
    if code == "too_large":
        limit = params.get("max_bytes")
        if limit:
            return str(_("The file is too large: the limit is %(limit)s.") % {"limit": filesizeformat(limit)})
        return str(_("The file is too large."))
    if code == "storage_full":
        return storage_full_message(params)
    if code == "too_small":
        return str(_("The text is too short to make even one training block. Add more text."))
    if code == "too_many_lines":
        return str(_("The file has %(lines)s lines; at most %(max_lines)s are allowed. Split it into smaller files, "
                     "or join short lines into longer ones.") % {"lines": _number(params.get("lines")),
                                                                 "max_lines": _number(params.get("max_lines"))})
    if code == "line_too_long":
        return str(_("Line %(line)s is %(chars)s characters long; a line may have at most %(max_chars)s. "
                     "Break long lines (for example one paragraph per line).")
                   % {"line": _number(params.get("line")), "chars": _number(params.get("chars")),
                      "max_chars": _number(params.get("max_chars"))})
    if code == "json_too_deep":
        return str(_("Line %(line)s nests JSON more than %(max_depth)s levels deep. Each line should be a simple "
                     "object such as {\"text\": \"...\"}.") % {"line": _number(params.get("line")),
                                                              "max_depth": params.get("max_depth")})
    if code == "jsonl_invalid":
        return str(_("Line %(line)s of the .jsonl file is not valid JSON.") % {"line": _number(params.get("line"))})
    if code == "csv_invalid":
        return str(_("The .csv file cannot be read (near line %(line)s). Save it again as CSV (UTF-8).")
                   % {"line": _number(params.get("line"))})
    if code == "check_lost":
        return str(_("The check of this file stopped unexpectedly (the server may have run out of memory). "
                     "Check it again; if it fails again, try a smaller file."))
    if code == "check_timeout":
        return str(_("The check of this file took too long and was stopped. Check it again; if it fails again, "
                     "try a smaller file."))
    if code == "check_internal":
        return str(_("The check of this file failed on our side. This is not your fault: check it again later; "
                     "an instructor can see the technical details."))
    if code == "jsonl_missing_text":
        return str(_("Each line of a .jsonl file must be a JSON object with a \"text\" field."))
    if code == "csv_missing_text":
        return str(_("A .csv file needs a column named \"text\"."))
    return str(_("The file could not be read as a training text."))


def storage_full_message(params: dict) -> str:
    """A new dataset or run would not fit in the student's storage quota (training/storage.py)."""
    return str(_("This needs about %(needed)s of storage, but only %(free)s of your %(limit)s is left. "
                 "Delete runs or datasets you no longer need (on their pages), then try again.")
               % {"needed": filesizeformat(params.get("needed") or 0), "free": filesizeformat(params.get("free") or 0),
                  "limit": filesizeformat(params.get("limit") or 0)})


def run_stop_reason(run) -> str:
    """Why a finished run stopped training, in the student's language ("" when unknown).

    The engine says whether it stopped early or ran its steps; the run's plan says what those
    steps stood for (the preset's time budget, the cap on passes over the text, or the
    student's own epochs or maximum steps). An instruction run says it in its own words (its
    loss is measured on held-out answers; it reads conversations, not a text)."""
    metrics = run.metrics or {}
    reason = metrics.get("stop_reason")
    if not reason:
        return ""
    instruction = bool(getattr(run, "is_instruction", False))
    if reason == "early_stopping":
        patience = (run.hyperparameters or {}).get("early_stopping_patience")
        if instruction:
            return _("Stopped early at step %(step)s: the loss on held-out answers had not improved for "
                     "%(patience)s evaluations. The model from step %(best)s, the best one, is kept.") % {
                "step": metrics.get("steps"), "patience": patience, "best": metrics.get("best_step")}
        return _("Stopped early at step %(step)s: validation loss had not improved for %(patience)s evaluations. "
                 "The model from step %(best)s, the best one, is kept.") % {
            "step": metrics.get("steps"), "patience": patience, "best": metrics.get("best_step")}
    if reason == "time_limit":
        return _("Stopped at step %(step)s: training took longer than planned (the machine was busier than when "
                 "its speed was measured), so the run ended at its time limit. The model from step %(best)s, "
                 "the best one, is kept.") % {"step": metrics.get("steps"), "best": metrics.get("best_step")}
    limited_by = (run.plan or {}).get("limited_by")
    if limited_by == "budget":
        # The steps were planned from the budget at the measured speed: a faster machine finishes them
        # sooner than the budget, so "used up" would not be true.
        return _("Stopped at step %(step)s: the steps planned from the preset's time budget are done.") % {
            "step": metrics.get("steps")}
    if limited_by == "epoch_cap" and instruction:
        return _("Stopped at step %(step)s after %(epochs)s passes over the conversations, the most allowed for "
                 "so few conversations (more would make the model memorise their answers).") % {
            "step": metrics.get("steps"), "epochs": (run.plan or {}).get("max_epochs")}
    if limited_by == "epoch_cap":
        return _("Stopped at step %(step)s after %(epochs)s passes over the text, the most allowed for a text "
                 "of this size (more would make the model memorise it).") % {
            "step": metrics.get("steps"), "epochs": (run.plan or {}).get("max_epochs")}
    if limited_by == "epochs":
        return _("Stopped at step %(step)s: the number of epochs you set was reached.") % {
            "step": metrics.get("steps")}
    return _("Stopped at step %(step)s: the maximum number of steps was reached.") % {"step": metrics.get("steps")}
