"""What students and instructors do with datasets and runs (views and the admin call these).

Keyword-only `<entity>_<action>` functions. The engine is imported inside functions: the
web process never loads torch just to show a page.
"""
import logging
import math
import re
import shutil
import unicodedata

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from training import conf, lifecycle, storage
from training.models import BaseModel, Dataset, TrainingRun
from training.reasons import dataset_error_message, storage_full_message

log = logging.getLogger(__name__)


class DatasetRejected(Exception):
    """The uploaded file cannot be used; `message` is translated, `code` stable."""

    def __init__(self, code: str, params: dict | None = None):
        self.code = code
        self.params = params or {}
        self.message = dataset_error_message(code, self.params)
        super().__init__(self.message)


# A check that failed by itself (its worker lost, out of time), not because of the file.
RECHECKABLE = ("check_lost", "check_timeout", "check_internal")


class RunRefused(Exception):
    """A run cannot be queued now (quota, queue full, unusable dataset or base)."""

    def __init__(self, message: str, code: str = "refused"):
        self.message = message
        self.code = code
        super().__init__(message)


# Datasets -------------------------------------------------------------------------------

def dataset_display_name(raw: str) -> str:
    """A harmless label from whatever the browser sent: no directories, control characters or NULs."""
    name = re.split(r"[\\/]", str(raw or ""))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split())[:100].strip(" .")
    return name or "dataset"


def _base_keys_for_check() -> list[str]:
    return [base.engine_key for base in BaseModel.objects.filter(enabled=True)]


def dataset_check(*, dataset: Dataset) -> Dataset:
    """Check a stored file at once and keep its figures (or its error) on the unsaved
    instance: for commands (seed_training) that may take their time. Uploads are checked by
    a job instead (dataset_create). An instruction dataset gets the conversations' check
    (every problem with its line)."""
    from training.engine import DatasetError, check_dataset, check_instruction_dataset

    try:
        if dataset.is_instruction:
            report = check_instruction_dataset(str(dataset.path), max_bytes=conf.dataset_stored_max_bytes(),
                                               base_kinds=tuple(_base_keys_for_check()),
                                               cache_dir=str(conf.models_dir()), limits=conf.corpus_limits())
        else:
            report = check_dataset(str(dataset.path), tokenizer_dir=None, max_bytes=conf.dataset_stored_max_bytes(),
                                   base_kinds=tuple(_base_keys_for_check()), cache_dir=str(conf.models_dir()),
                                   limits=conf.corpus_limits())
    except DatasetError as exc:
        dataset.report, dataset.error_code, dataset.error_params = {}, exc.code, dict(exc.params or {})
        dataset.check_status = Dataset.FAILED
    else:
        dataset.report, dataset.error_code, dataset.error_params = report.to_dict(), "", {}
        dataset.check_status = Dataset.READY
    return dataset


def _read_upload(uploaded_file, max_bytes: int) -> bytes:
    chunks, size = [], 0
    uploaded_file.seek(0)
    for chunk in uploaded_file.chunks():
        size += len(chunk)
        if size > max_bytes:
            raise DatasetRejected("too_large", {"max_bytes": max_bytes})
        chunks.append(chunk)
    return b"".join(chunks)


def dataset_kind_detect(text: str, preparation_kind: str, chosen: str = "") -> str:
    """The kind the student chose, or: a .jsonl file of conversations ("messages", or Alpaca's
    "instruction"/"output") is an instruction dataset, anything else a text."""
    from training.engine import looks_like_instructions

    if chosen in (Dataset.TEXT, Dataset.INSTRUCTION):
        return chosen
    if preparation_kind == "jsonl" and looks_like_instructions(text):
        return Dataset.INSTRUCTION
    return Dataset.TEXT


def dataset_create(*, owner, uploaded_file, name: str = "", language: str = "",
                   keep_notation: bool = False, kind: str = "") -> Dataset:
    """Store the upload as sent and queue its check (training/dataset_check.py): only the
    cheap checks (size, name) happen here, so the request answers at once with "checking".
    `kind` "instruction" is the student's choice; otherwise the check detects conversations
    (a .jsonl file with "messages", or Alpaca's "instruction"/"output")."""
    from django.core.files.base import ContentFile

    from training.dataset_check import check_start

    max_bytes = conf.dataset_max_bytes()
    if uploaded_file.size is None or uploaded_file.size > max_bytes:
        raise DatasetRejected("too_large", {"max_bytes": max_bytes})
    if uploaded_file.size == 0:
        raise DatasetRejected("empty")
    storage_check(owner=owner, needed=uploaded_file.size, as_dataset=True)
    raw = _read_upload(uploaded_file, max_bytes)
    if not raw.strip():
        raise DatasetRejected("empty")
    dataset = Dataset(owner=owner, name=dataset_display_name(name or uploaded_file.name), language=language,
                      upload_name=dataset_display_name(uploaded_file.name), keep_notation=keep_notation,
                      check_status=Dataset.CHECKING, size_bytes=len(raw),
                      kind=Dataset.INSTRUCTION if kind == Dataset.INSTRUCTION else Dataset.TEXT)
    try:
        with transaction.atomic():
            dataset.original.save("original.bin", ContentFile(raw), save=False)
            dataset.save()
            check_start(dataset, prepare=True)
    except BaseException:
        _delete_files(dataset)
        raise
    return dataset


def dataset_reclean(*, dataset: Dataset, keep_notation: bool) -> Dataset:
    """Prepare the kept original upload again, removing or keeping the Aozora notation: a
    check job (the dataset is "checking" meanwhile, and stays as it was if the result is refused)."""
    from training.dataset_check import check_start

    if dataset.is_checking:
        raise RunRefused(_("The dataset is being checked. Wait for the check to finish."), code="checking")
    if not dataset.can_reclean or not dataset.is_usable:
        raise DatasetRejected("no_original")
    if dataset.runs.filter(status__in=TrainingRun.ACTIVE).exists():
        raise RunRefused(_("A queued or running run uses this dataset. Cancel it first."), code="in_use")
    with transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(keep_notation=keep_notation, reclean_error={})
        check_start(dataset, prepare=True)
    return dataset


def dataset_recheck(*, dataset: Dataset) -> Dataset:
    """Check again after the check itself failed (its worker was lost, it ran out of time)."""
    from training.dataset_check import check_start

    if dataset.check_status != Dataset.FAILED or dataset.error_code not in RECHECKABLE:
        raise RunRefused(_("Only a dataset whose check was interrupted can be checked again."), code="state")
    prepare = bool(dataset.original) and not dataset.file
    if not prepare and not dataset.file:
        raise DatasetRejected("no_original")
    with transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(error_code="", error_params={})
        check_start(dataset, prepare=prepare)
    return dataset


def dataset_check_queue(*, dataset: Dataset) -> None:
    """Queue a check of the stored file as it is (a sample an instructor added in the admin)."""
    from training.dataset_check import check_start

    with transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(report={}, error_code="", error_params={})
        check_start(dataset, prepare=False)


def _delete_files(dataset: Dataset) -> None:
    for stored in (dataset.file, dataset.original):
        if stored:
            stored.delete(save=False)


def dataset_delete_refusal(dataset: Dataset) -> RunRefused | None:
    """Why this dataset cannot be deleted now (a queued or running run reads it), or None."""
    if dataset.runs.filter(status__in=TrainingRun.ACTIVE).exists():
        return RunRefused(_("A queued or running run uses this dataset. Cancel it first."), code="in_use")
    return None


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset and its files (students and the admin alike); refused while a queued
    or running run uses it. The row goes in one conditional delete, so a run queued on it a
    moment before keeps it."""
    refusal = dataset_delete_refusal(dataset)
    if refusal:
        raise refusal
    with transaction.atomic():
        _total, deleted = Dataset.objects.filter(pk=dataset.pk).exclude(
            runs__status__in=TrainingRun.ACTIVE).delete()
    if not deleted.get(Dataset._meta.label) and Dataset.objects.filter(pk=dataset.pk).exists():
        raise dataset_delete_refusal(dataset) or RunRefused(
            _("The dataset changed in the meantime; reload and try again."), code="state")
    for path in storage.dataset_files(dataset):
        path.unlink(missing_ok=True)


def datasets_for_user(user):
    """The student's usable datasets plus the published shared samples."""
    from django.db.models import Q

    return Dataset.objects.filter(Q(owner=user) | Q(is_sample=True, published=True)).filter(
        error_code="", check_status=Dataset.READY)


def dataset_unusable_message(dataset: Dataset) -> str:
    """Why a run cannot use this dataset (yet), for the run form."""
    if dataset.is_checking:
        return _("“%(name)s” is still being checked. You can train on it as soon as the check is done "
                 "(its page shows the progress).") % {"name": dataset.name}
    return _("“%(name)s” failed its check and cannot be used for training. Its page says why.") % {
        "name": dataset.name}


def dataset_unusable_label(dataset: Dataset) -> str:
    if dataset.is_checking:
        return _("%(name)s (checking…)") % {"name": dataset.name}
    return _("%(name)s (cannot be used)") % {"name": dataset.name}


# Hyperparameters --------------------------------------------------------------------------

# Bounds for every value a run may set. Students get the first group through the form;
# the rest are knobs for instructors, tests and the admin (never taken from a request).
BOUNDS = {
    "epochs": (0.05, 20.0),
    "learning_rate": (1e-6, 1e-2),
    "batch_size": (1, 64),
    "block_size": (16, 1024),
    "max_steps": (1, 100_000),
    "lora_r": (1, 64),
    "lora_alpha": (1, 256),
    "grad_accum": (1, 64),
    "warmup_ratio": (0.0, 0.5),
    "weight_decay": (0.0, 0.5),
    "vocab_size": (300, 50_257),  # from scratch: an upper bound (the engine sizes it to the corpus)
    "text_prompts": (0, 5),
    "seed": (0, 2**31 - 1),
    "val_fraction": (0.01, 0.5),
    "eval_every_steps": (1, 100_000),
    "early_stopping_patience": (1, 1000),
    "max_train_seconds": (1, 24 * 3600),
    "checkpoint_every_steps": (1, 100_000),
    "checkpoint_every_seconds": (1, 24 * 3600),
    "progress_every_seconds": (0.1, 60),
    "sample_max_new_tokens": (1, 200),
    "num_threads": (1, 256),
}
INTEGER_KEYS = {"batch_size", "block_size", "max_steps", "lora_r", "lora_alpha", "grad_accum", "vocab_size", "seed",
                "text_prompts", "eval_every_steps", "early_stopping_patience", "checkpoint_every_steps",
                "sample_max_new_tokens", "num_threads"}
STUDENT_KEYS = {"epochs", "learning_rate", "batch_size", "block_size", "max_steps", "lora", "sample_prompts"}
# Options the preset plan takes into account (the rest is stored as given).
PLAN_KEYS = {"epochs", "max_steps", "batch_size", "block_size", "learning_rate", "lora", "grad_accum", "warmup_ratio"}
# From-scratch tokens per character when a dataset's report predates the measured figure.
SCRATCH_TOKENS_PER_CHAR = 0.5
# The student's own sample prompts (besides those taken from their text): few and short, so
# sampling stays a few seconds.
MAX_EXTRA_PROMPTS = 3
MAX_PROMPT_CHARS = 100


def sample_prompts_clean(value) -> list[str]:
    """The student's prompts: a list, or text with one prompt per line. Blank lines are
    dropped; control characters are refused, as are too many or too long prompts."""
    lines = value.splitlines() if isinstance(value, str) else value
    if not isinstance(lines, (list, tuple)) or not all(isinstance(line, str) for line in lines):
        raise ValidationError({"sample_prompts": _("Enter one prompt per line.")})
    prompts = [line.strip() for line in lines if line.strip()]
    if len(prompts) > MAX_EXTRA_PROMPTS:
        raise ValidationError({"sample_prompts": _("Enter at most %(count)s prompts.") % {"count": MAX_EXTRA_PROMPTS}})
    for prompt in prompts:
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ValidationError({"sample_prompts": _("A prompt can be at most %(chars)s characters long.")
                                   % {"chars": MAX_PROMPT_CHARS}})
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in prompt):
            raise ValidationError({"sample_prompts": _("A prompt may not contain control characters.")})
    return list(dict.fromkeys(prompts))


def hyper_presets() -> dict:
    from training.engine import HYPER_PRESETS

    return HYPER_PRESETS


def _bounded(key: str, value):
    low, high = BOUNDS[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({key: _("Enter a number.")}) from None
    if not math.isfinite(number):
        raise ValidationError({key: _("Enter a finite number.")})
    if key in INTEGER_KEYS:
        if number != int(number):
            raise ValidationError({key: _("Enter a whole number.")})
        number = int(number)
    if not low <= number <= high:
        raise ValidationError({key: _("Must be between %(low)s and %(high)s.") % {"low": low, "high": high}})
    return number


def hyperparameters_resolve(*, preset: str, options: dict | None = None, block_size_limit: int = 1024,
                            lora_allowed: bool = False) -> dict:
    """The explicitly given options, bounded; raises ValidationError naming the field.

    The preset's own values come from the plan (run_plan), which needs the dataset and the
    measured speed; this only checks what a student or trusted code asked for.
    """
    if preset not in hyper_presets():
        raise ValidationError({"preset": _("Unknown preset.")})
    resolved = {}
    for key, value in (options or {}).items():
        if value is None or value == "":
            continue
        if key in BOUNDS:
            resolved[key] = _bounded(key, value)
        elif key == "lora":
            resolved["lora"] = bool(value)
        elif key == "sample_prompts":
            resolved["sample_prompts"] = sample_prompts_clean(value)
        else:
            raise ValidationError({key: _("This setting cannot be changed.")})
    block_size = int(resolved.get("block_size", 0))
    if block_size > block_size_limit:
        raise ValidationError({"block_size": _("The block size of this model can be at most %(limit)s.")
                               % {"limit": block_size_limit}})
    if resolved.get("lora") and not lora_allowed:
        raise ValidationError({"lora": _("LoRA is only available for pretrained base models.")})
    return resolved


def run_budget(*, hyperparameters: dict, steps: int) -> int:
    """Tokens the run will read at most (the quota and the job timeout are derived from it)."""
    per_step = int(hyperparameters.get("batch_size", 8)) * int(hyperparameters.get("block_size", 128)) * int(
        hyperparameters.get("grad_accum", 1))
    return int(hyperparameters.get("max_steps") or steps) * per_step


def dataset_tokens_for(*, dataset: Dataset, base_key: str, base_run: TrainingRun | None = None) -> int:
    """Tokens of the dataset with the tokenizer the run will use: the base's own tokenizer
    (counted by the dataset check), or for a from-scratch base the characters times the
    tokens per character measured by training that tokenizer on the text."""
    report = dataset.report or {}
    counted = (report.get("tokens_by_base") or {}).get(base_key)
    if counted:
        return int(counted)
    chars = int(report.get("chars") or 0)
    if base_run is not None:
        ratio = ((base_run.metrics or {}).get("data") or {}).get("tokens_per_char")
        if ratio and chars:
            return max(1, int(chars * float(ratio)))
    if base_key.startswith("scratch:") and chars:
        ratio = report.get("scratch_tokens_per_char") or SCRATCH_TOKENS_PER_CHAR
        return max(1, int(chars * float(ratio)))
    return dataset.tokens


def run_estimate_seconds(*, tokens: int, base_key: str, hyperparameters: dict,
                         tokens_per_second: float | None = None) -> float:
    from training.engine import estimate_seconds

    return float(estimate_seconds(
        tokens, base=base_key, block_size=int(hyperparameters.get("block_size", 128)),
        batch_size=int(hyperparameters.get("batch_size", 8)), grad_accum=int(hyperparameters.get("grad_accum", 1)),
        max_steps=hyperparameters.get("max_steps"), epochs=float(hyperparameters.get("epochs", 1.0)),
        tokens_per_second=tokens_per_second))


def dataset_epoch_estimates(*, dataset: Dataset) -> list[dict]:
    """For each enabled base: how long one pass over the text takes at the measured speed
    ({"base", "seconds", "tokens", "calibrated"})."""
    from training.calibration import speed_for
    from training.engine import BATCH_SETTINGS as SETTINGS

    rows = []
    for base in BaseModel.objects.filter(enabled=True):
        settings = SETTINGS["scratch" if base.is_scratch else "pretrained"]
        block_size, batch_size = min(int(settings["block_size"]), base.block_size_limit()), int(settings["batch_size"])
        speed = speed_for(base_key=base.engine_key, block_size=block_size, batch_size=batch_size)
        tokens = dataset_tokens_for(dataset=dataset, base_key=base.engine_key)
        seconds = run_estimate_seconds(tokens=tokens, base_key=base.engine_key,
                                       hyperparameters={"block_size": block_size, "batch_size": batch_size,
                                                        "grad_accum": settings["grad_accum"], "epochs": 1.0},
                                       tokens_per_second=speed["tokens_per_second"])
        rows.append({"base": base, "seconds": seconds, "tokens": tokens, "calibrated": speed["calibrated"]})
    return rows


def job_timeout_for(estimate_seconds: float) -> int:
    """Generous (the machine may be busy), bounded by the site's maximum."""
    return int(min(conf.job_timeout_max(), max(conf.job_timeout_min(), estimate_seconds * 3 + 300)))


def base_block_size_limit(*, base_model: BaseModel | None, base_run: TrainingRun | None) -> int:
    if base_run is not None and base_run.export_dir is not None:
        import json

        try:
            config = json.loads((base_run.export_dir / "config.json").read_text())
            return int(config.get("n_positions") or config.get("max_position_embeddings") or 1024)
        except (OSError, ValueError):
            return 1024
    return base_model.block_size_limit() if base_model else 1024


# Runs -------------------------------------------------------------------------------------

INSTRUCTION_BLOCK_SIZES = (128, 256)  # an instruction run's block: the first that holds the longest conversation


def default_block_size(*, dataset: Dataset, block_limit: int) -> int:
    """128 tokens; for conversations, a longer block (up to 256) when the longest one needs it, so
    that a conversation is not cut (the check measured it with GPT-2's tokenizer)."""
    longest = int(((dataset.report or {}).get("instructions") or {}).get("longest_tokens") or 0)
    size = 128
    if dataset.is_instruction:
        size = next((s for s in INSTRUCTION_BLOCK_SIZES if longest <= s), INSTRUCTION_BLOCK_SIZES[-1])
    return min(size, block_limit)


def run_plan(*, owner, dataset: Dataset, base_model: BaseModel | None = None, base_run: TrainingRun | None = None,
             preset: str = "quick", options: dict | None = None) -> dict:
    """Validate a run request without saving it, and turn the preset into concrete settings:
    {"hyperparameters", "plan", "budget", "estimate_seconds", "job_timeout"}.

    The preset is a time budget: its steps come from the speed the workers measured for this
    base (training.calibration), capped so a small text is not memorised (presets.preset_plan).
    """
    from training.calibration import speed_for
    from training.engine import base_parameters, preset_plan

    if base_model is None and base_run is None:
        raise ValidationError({"base": _("Choose a base model.")})
    if base_run is not None:
        if base_run.owner_id != owner.pk or base_run.status != TrainingRun.SUCCEEDED or not base_run.export_dir:
            raise ValidationError({"base": _("You can only continue from one of your own finished runs.")})
    elif not base_model.enabled or not base_model.is_present:
        raise ValidationError({"base": _("This base model is not available on this site yet.")})
    if not (dataset.owner_id == owner.pk or (dataset.is_sample and dataset.published)):
        raise ValidationError({"dataset": _("Choose one of your datasets or a shared sample.")})
    if not dataset.is_usable:
        raise ValidationError({"dataset": dataset_unusable_message(dataset)})
    block_limit = base_block_size_limit(base_model=base_model, base_run=base_run)
    options = hyperparameters_resolve(
        preset=preset, options={**conf.extra_hyperparameters(), **(options or {})}, block_size_limit=block_limit,
        lora_allowed=base_model is not None and base_model.kind == BaseModel.PRETRAINED)
    base_key = str(base_run.export_dir) if base_run is not None else base_model.engine_key
    base_kind = "run" if base_run is not None else ("scratch" if base_model.is_scratch else "pretrained")
    base_source = base_run.export_dir if base_run is not None else base_model.source
    tokens = dataset_tokens_for(dataset=dataset, base_key=base_key, base_run=base_run)
    parameters = base_parameters(base_key)
    overrides = {key: value for key, value in options.items() if key in PLAN_KEYS}
    overrides.setdefault("block_size", default_block_size(dataset=dataset, block_limit=block_limit))

    def plan_at(speed: float) -> dict:
        return preset_plan(preset, base_kind=base_kind, base_source=str(base_source),
                           parameters=parameters, tokens=tokens,
                           tokens_per_second=speed, overrides=overrides,
                           val_fraction=float(options.get("val_fraction", 0.1)))

    shape = plan_at(1.0)["hyperparameters"]  # batch and block size do not depend on the speed
    speed = speed_for(base_key=base_key, block_size=shape["block_size"], batch_size=shape["batch_size"])
    planned = plan_at(speed["tokens_per_second"])
    hyperparameters = {**planned["hyperparameters"],
                       **{key: value for key, value in options.items() if key not in PLAN_KEYS}}
    budget = run_budget(hyperparameters=hyperparameters, steps=planned["plan"]["steps"])
    if budget > conf.max_token_budget():
        raise ValidationError(_("This run would process about %(tokens)s tokens; the limit is %(limit)s. "
                                "Lower the epochs or the maximum number of steps.")
                              % {"tokens": f"{budget:,}", "limit": f"{conf.max_token_budget():,}"})
    estimate = run_estimate_seconds(tokens=tokens, base_key=base_key,
                                    hyperparameters={**hyperparameters, "max_steps": planned["plan"]["steps"]},
                                    tokens_per_second=speed["tokens_per_second"])
    if estimate * 1.2 > conf.job_timeout_max():
        raise ValidationError(_("This run would take too long (about %(hours)s hours). "
                                "Lower the epochs or the maximum number of steps.")
                              % {"hours": f"{estimate / 3600:.1f}"})
    plan = {**planned["plan"], "calibrated": speed["calibrated"], "device": speed["device"],
            "estimate_seconds": estimate}
    return {"hyperparameters": hyperparameters, "plan": plan, "budget": budget, "estimate_seconds": estimate,
            "job_timeout": job_timeout_for(estimate), "storage_bytes": storage.run_bytes_expected(parameters)}


def _free_slot(owner) -> int | None:
    taken = set(TrainingRun.objects.filter(owner=owner, status__in=TrainingRun.ACTIVE)
                .values_list("active_slot", flat=True))
    free = [slot for slot in range(conf.max_active_runs_per_user()) if slot not in taken]
    return free[0] if free else None


def _quota_message() -> str:
    limit = conf.max_active_runs_per_user()
    if limit == 1:
        return _("You already have a run in progress. Wait for it to finish or cancel it first.")
    return _("You already have %(count)s runs in progress, the most allowed. Wait for one to finish or cancel it.") % {
        "count": limit}


def email_unverified(owner) -> bool:
    """REQUIRE_VERIFIED_EMAIL is on and this student has not opened their link (instructors never wait)."""
    return conf.require_verified_email() and not getattr(owner, "email_verified", True) and not owner.is_instructor


def _check_queue_room(owner) -> None:
    """The whole queue's cap, and a share of it per sign-up address: accounts created from one
    address (a script, or one classroom's NAT) cannot take every place in the queue."""
    queued = TrainingRun.objects.filter(status=TrainingRun.QUEUED)
    if queued.count() >= conf.max_queued_runs():
        raise RunRefused(_("The training queue is full right now. Please try again in a little while."),
                         code="queue_full")
    address = getattr(owner, "signup_ip", None)
    if address and queued.filter(owner__signup_ip=address).count() >= conf.max_queued_runs_per_address():
        raise RunRefused(_("Many runs from your network are already waiting in the queue. Please try again "
                           "when some of them have started."), code="address_full")


def training_run_create(*, owner, dataset: Dataset, base_model: BaseModel | None = None,
                        base_run: TrainingRun | None = None, preset: str = "quick", options: dict | None = None,
                        extra: dict | None = None, name: str = "") -> TrainingRun:
    """Create a queued run and enqueue it once the row is committed.

    `options` come from the student (bounded), `extra` from trusted code (tests, admin):
    both are checked against BOUNDS. Raises ValidationError or RunRefused. When Redis is
    down the run stays queued with `run.enqueued` False; the reconciler enqueues it later.
    """
    if email_unverified(owner):
        raise RunRefused(_("Confirm your e-mail address before queuing a run: open the link we sent you, "
                           "or ask for a new one."), code="unverified")
    plan = run_plan(owner=owner, dataset=dataset, base_model=base_model, base_run=base_run, preset=preset,
                    options={**(options or {}), **(extra or {})})
    storage_check(owner=owner, needed=plan["storage_bytes"])
    for _try in range(3):
        try:
            with transaction.atomic():
                slot = _free_slot(owner)
                if slot is None:
                    raise RunRefused(_quota_message(), code="quota")
                _check_queue_room(owner)
                run = TrainingRun.objects.create(
                    owner=owner, dataset=dataset, base_model=None if base_run else base_model, base_run=base_run,
                    task=TrainingRun.INSTRUCTION_TASK if dataset.is_instruction else TrainingRun.TEXT_TASK,
                    preset=preset, hyperparameters=plan["hyperparameters"], plan=plan["plan"], name=dataset_display_name(name)[:120]
                    if name else "", active_slot=slot, status=TrainingRun.QUEUED, attempt=1,
                    job_timeout=plan["job_timeout"], eta_seconds=plan["estimate_seconds"])
                transaction.on_commit(lambda: _enqueue_after_commit(run))
            break
        except IntegrityError:
            # Another request took the same slot at the same moment: look again.
            continue
    else:
        raise RunRefused(_quota_message(), code="quota")
    return run


def _enqueue_after_commit(run: TrainingRun) -> None:
    from training.queueing import run_enqueue

    run.enqueued = run_enqueue(run)


def training_run_cancel(*, run: TrainingRun) -> bool:
    """Queued: cancelled at once. Running: the job sees the flag at its next progress report
    (at most TRAINING_PROGRESS_WRITE_SECONDS apart, and at every evaluation) and stops; a job that does not stop is killed (see progress.Heartbeat)."""
    from training.queueing import job_delete

    outcome = lifecycle.run_cancel(run_id=run.pk)
    if outcome == "cancelled":
        job_delete(run.job_id)
    run.refresh_from_db()
    return bool(outcome)


def training_run_requeue(*, run: TrainingRun) -> TrainingRun:
    """Instructors: start a failed or cancelled run again (a new attempt that resumes from its checkpoint)."""
    if run.status not in (TrainingRun.FAILED, TrainingRun.CANCELLED):
        raise RunRefused(_("Only failed or cancelled runs can be queued again."), code="state")
    with transaction.atomic():
        slot = _free_slot(run.owner)
        if slot is None:
            raise RunRefused(_quota_message(), code="quota")
        moved = lifecycle.run_requeue(run_id=run.pk, attempt=run.attempt, status=run.status, slot=slot)
        if not moved:
            raise RunRefused(_("The run changed in the meantime; reload and try again."), code="state")
        run.refresh_from_db()
        transaction.on_commit(lambda: _enqueue_after_commit(run))
    return run


def training_run_delete_refusal(run: TrainingRun) -> RunRefused | None:
    """Why this run cannot be deleted now, or None: it is queued or running, or a queued or
    running run continues from it (that run loads this one's model when it starts)."""
    if run.is_active:
        return RunRefused(_("Cancel the run before deleting it."), code="active")
    if run.children.filter(status__in=TrainingRun.ACTIVE).exists():
        return RunRefused(_("A queued or running run continues from this one. Wait for it to finish or cancel it, "
                            "then delete this run."), code="base_in_use")
    return None


def training_run_delete(*, run: TrainingRun) -> None:
    """Delete a finished run and every file it wrote (checkpoints, export, archive); students
    and the admin alike. The row goes in one conditional delete (finished, no active run
    continuing from it), so a requeue or a follow-up run a moment before keeps it."""
    refusal = training_run_delete_refusal(run)
    if refusal:
        raise refusal
    run_dir = run.run_dir
    with transaction.atomic():
        _total, deleted = TrainingRun.objects.filter(pk=run.pk, status__in=TrainingRun.FINISHED).exclude(
            children__status__in=TrainingRun.ACTIVE).delete()
    if not deleted.get(TrainingRun._meta.label):
        current = TrainingRun.objects.filter(pk=run.pk).first()
        if current is not None:
            raise training_run_delete_refusal(current) or RunRefused(
                _("The run changed in the meantime; reload and try again."), code="state")
    shutil.rmtree(run_dir, ignore_errors=True)


# Storage ----------------------------------------------------------------------------------

def storage_check(*, owner, needed: int, as_dataset: bool = False) -> None:
    """Refuse what would take the student over their storage quota (training/storage.py)."""
    usage = storage.usage_for(owner)
    if usage.fits(needed):
        return
    params = {"needed": int(needed), "free": int(usage.free or 0), "limit": int(usage.limit or 0)}
    if as_dataset:
        raise DatasetRejected("storage_full", params)
    raise RunRefused(storage_full_message(params), code="storage_full")


def training_run_set_demo(*, run: TrainingRun) -> None:
    """Make this run the site's demo model (exactly one at a time)."""
    if run.status != TrainingRun.SUCCEEDED:
        raise RunRefused(_("Only a succeeded run can be the demo model."), code="state")
    with transaction.atomic():
        TrainingRun.objects.filter(is_demo=True).exclude(pk=run.pk).update(is_demo=False)
        TrainingRun.objects.filter(pk=run.pk).update(is_demo=True)
    run.is_demo = True


# The playground of an instruction run -----------------------------------------------------

MAX_CHAT_MESSAGES = 20  # the conversation kept in the page: the most recent messages
MAX_CHAT_MESSAGE_CHARS = 1000


def playground_chat(*, user, run: TrainingRun, history: list[dict], message: str, system: str = "",
                    sampling: dict, seed: int) -> dict:
    """The assistant's answer to `message` after `history`, from the run's exported model.

    The one place the site asks for a chat answer. The model work runs on an inference worker
    (task "chat": the engine's `chat_reply` applies the template, fits the context, stops at
    <|end|>), within the student's limits. Returns {"history": the conversation with both new
    messages, "reply", "used_messages"}; raises training.inference.InferenceError when the
    worker refuses, is busy or the model cannot answer. "cut_short": the models were busy and the
    answer stopped early, so that it arrived before the request stopped waiting."""
    from training.inference import inference_call

    conversation = [*history, {"role": "user", "content": message}]
    messages = ([{"role": "system", "content": system}] if system.strip() else []) + conversation
    answer = inference_call(user, "chat", {"model_dir": str(run.export_dir), "messages": messages, "seed": seed,
                                           **sampling})
    conversation.append({"role": "assistant", "content": answer["reply"]})
    return {"history": conversation[-MAX_CHAT_MESSAGES:], "reply": answer["reply"],
            "used_messages": answer["used_messages"], "cut_short": answer.get("cut_short", False)}
