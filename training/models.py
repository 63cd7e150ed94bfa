"""Datasets, base models and training runs.

The database is the source of truth for a run's state; Redis only carries the queue.
Every write a job makes is fenced by the run's `attempt` (see training/jobs.py).
"""
import json
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from training import conf


def dataset_upload_to(instance, filename: str) -> str:
    """A generated name: the user's file name never reaches the file system."""
    return f"datasets/{uuid.uuid4().hex}{Dataset.safe_extension(filename)}"


def dataset_original_to(instance, filename: str) -> str:
    """The upload as sent (kept only when re-cleaning may need it), under a generated name."""
    return f"datasets/originals/{uuid.uuid4().hex}.bin"


class Dataset(models.Model):
    """A text corpus: a student's upload or a shared sample published by an instructor."""

    ALLOWED_EXTENSIONS = (".txt", ".md", ".jsonl", ".csv")
    TEXT, INSTRUCTION = "text", "instruction"
    KIND_CHOICES = [(TEXT, _("text")), (INSTRUCTION, _("instructions (conversations)"))]

    # The check runs as a job on the `default` queue (training/dataset_check.py): an upload is
    # stored as sent and is "checking" until the job has prepared and checked it.
    CHECKING, READY, FAILED = "checking", "ready", "failed"
    CHECK_CHOICES = [(CHECKING, _("checking")), (READY, _("ready")), (FAILED, _("failed"))]

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="datasets", verbose_name=_("owner"))
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)
    # What the file holds: a text to continue, or conversations to answer (a .jsonl file whose
    # lines have "messages", or Alpaca's "instruction" and "output"): detected at upload or chosen.
    kind = models.CharField(_("kind"), max_length=20, choices=KIND_CHOICES, default=TEXT)
    # The prepared UTF-8 text (empty while the first check has not prepared the upload yet).
    file = models.FileField(_("file"), upload_to=dataset_upload_to, max_length=255, blank=True)
    upload_name = models.CharField(_("uploaded file name"), max_length=100, blank=True, help_text=_(
        "As the browser sent it, cleaned; its extension says how the file is read (.jsonl, .csv, text)."))
    size_bytes = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    # The upload as sent, kept only when it held Aozora Bunko notation, so that the student
    # can switch between removing and keeping the notation (re-cleaned from this file).
    original = models.FileField(_("original upload"), upload_to=dataset_original_to, max_length=255, blank=True)
    encoding = models.CharField(_("encoding"), max_length=40, blank=True,
                                help_text=_("The encoding the upload was read in; stored as UTF-8."))
    keep_notation = models.BooleanField(_("keep Aozora Bunko notation"), default=False)
    preparation = models.JSONField(_("preparation report"), default=dict, blank=True)
    report = models.JSONField(_("check report"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    check_status = models.CharField(_("check"), max_length=10, choices=CHECK_CHOICES, default=READY, db_index=True)
    check_attempt = models.PositiveIntegerField(_("check attempt"), default=0)
    check_phase = models.CharField(_("check phase"), max_length=30, blank=True, editable=False)
    prepare_pending = models.BooleanField(default=False, editable=False, help_text=(
        "The kept upload (`original`) must be prepared (decoded, unzipped, cleaned) before the check."))
    check_enqueued_at = models.DateTimeField(_("check queued"), null=True, blank=True)
    check_started_at = models.DateTimeField(_("check started"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    check_detail = models.TextField(_("technical detail"), blank=True, editable=False,
                                    help_text=_("Traceback or worker message; shown to instructors only."))
    # A refused re-cleaning ({"code", "params"}): the dataset stays as it was and says why.
    reclean_error = models.JSONField(default=dict, blank=True)
    is_sample = models.BooleanField(_("shared sample"), default=False)
    published = models.BooleanField(_("published"), default=False,
                                    help_text=_("Published samples are offered to every student."))
    seed_key = models.CharField(max_length=80, blank=True, editable=False,
                                help_text="Set for samples loaded by seed_training (idempotent seeding).")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        constraints = [
            models.UniqueConstraint(fields=["seed_key"], condition=~Q(seed_key=""), name="dataset_unique_seed_key"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def safe_extension(cls, filename: str) -> str:
        suffix = Path(str(filename).replace("\x00", "")[-32:]).suffix.lower()
        return suffix if suffix in cls.ALLOWED_EXTENSIONS else ".txt"

    @property
    def path(self) -> Path:
        return Path(self.file.path)

    @property
    def is_usable(self) -> bool:
        return self.check_status == self.READY and bool(self.report) and not self.error_code

    @property
    def is_checking(self) -> bool:
        return self.check_status == self.CHECKING

    @property
    def check_job_id(self) -> str:
        return f"dataset-check-{self.pk}-{self.check_attempt}"

    @property
    def tokens(self) -> int:
        return int(self.report.get("tokens") or 0)

    @property
    def notation(self) -> dict:
        return (self.preparation or {}).get("notation") or {}

    @property
    def can_reclean(self) -> bool:
        """Whether the original upload is kept, so the notation can be removed or kept anew."""
        return bool(self.original) and bool(self.notation.get("detected"))

    @property
    def is_instruction(self) -> bool:
        return self.kind == self.INSTRUCTION

    def tokens_for(self, base_key: str) -> int:
        """Tokens under that base's own tokenizer when the check counted them (rinna's
        SentencePiece needs far fewer than GPT-2's for Japanese), else the GPT-2 count."""
        return int((self.report.get("tokens_by_base") or {}).get(base_key) or self.tokens)


class BaseModel(models.Model):
    """What a run starts from: a from-scratch preset or a pretrained GPT-2 (Hub id or local directory)."""

    SCRATCH = "scratch"
    PRETRAINED = "pretrained"
    KIND_CHOICES = [(SCRATCH, _("from scratch")), (PRETRAINED, _("pretrained"))]

    key = models.SlugField(_("key"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=KIND_CHOICES)
    source = models.CharField(_("source"), max_length=500, help_text=_(
        "From scratch: the preset name (tiny, small). Pretrained: a Hugging Face Hub id (gpt2) "
        "or an absolute local directory."))
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)
    size = models.CharField(_("size"), max_length=40, blank=True, help_text=_("For people, e.g. \"124M parameters\"."))
    max_block_size = models.PositiveIntegerField(_("maximum block size"), default=1024)
    description = models.TextField(_("description"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("base model")
        verbose_name_plural = _("base models")

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        """The name in the reader's language when it is one of the seeded names (msgids)."""
        from django.utils.translation import gettext

        return gettext(self.name) if self.name else self.name

    @property
    def is_scratch(self) -> bool:
        return self.kind == self.SCRATCH

    @property
    def is_local_dir(self) -> bool:
        return not self.is_scratch and Path(self.source).is_absolute()

    @property
    def engine_key(self) -> str:
        """The `base` name estimate_seconds and check_dataset understand: "scratch:<preset>",
        a hub id, or a model directory."""
        return f"scratch:{self.source}" if self.is_scratch else self.source

    @property
    def is_present(self) -> bool:
        """Scratch presets need no files; pretrained ones must be on this machine (workers never download)."""
        if self.is_scratch:
            return True
        from training.engine import is_base_present

        return bool(is_base_present(self.source, cache_dir=str(conf.models_dir())))

    def block_size_limit(self) -> int:
        """The model's n_positions where it can be read without torch, else the stored maximum."""
        if self.is_local_dir:
            try:
                config = json.loads((Path(self.source) / "config.json").read_text())
                return int(config.get("n_positions") or config.get("max_position_embeddings") or self.max_block_size)
            except (OSError, ValueError):
                pass
        return self.max_block_size


class RunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=TrainingRun.ACTIVE)

    def for_owner(self, user):
        return self.filter(owner=user)


class TrainingRun(models.Model):
    QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
    STATUS_CHOICES = [
        (QUEUED, _("queued")),
        (RUNNING, _("running")),
        (SUCCEEDED, _("succeeded")),
        (FAILED, _("failed")),
        (CANCELLED, _("cancelled")),
    ]
    ACTIVE = (QUEUED, RUNNING)
    FINISHED = (SUCCEEDED, FAILED, CANCELLED)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs",
                              verbose_name=_("owner"))
    name = models.CharField(_("name"), max_length=120, blank=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.SET_NULL, null=True, related_name="runs",
                                verbose_name=_("dataset"))
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, null=True, blank=True, related_name="runs",
                                   verbose_name=_("base model"))
    base_run = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children",
                                 verbose_name=_("base run"))
    # "text": a language model of the text; "instruction": an assistant trained on conversations
    # (the loss on the answers only, a chat template in the export, a chat playground).
    TEXT_TASK, INSTRUCTION_TASK = "text", "instruction"
    TASK_CHOICES = [(TEXT_TASK, _("text")), (INSTRUCTION_TASK, _("instructions"))]
    task = models.CharField(_("kind of run"), max_length=20, choices=TASK_CHOICES, default=TEXT_TASK)
    preset = models.CharField(_("preset"), max_length=20, default="quick")
    hyperparameters = models.JSONField(_("hyperparameters"), default=dict, blank=True)
    # How the preset became these settings (budget, measured speed, steps, what limits them):
    # see training.engine.presets.preset_plan.
    plan = models.JSONField(_("plan"), default=dict, blank=True)

    # Queue and claim
    status = models.CharField(_("status"), max_length=20, choices=STATUS_CHOICES, default=QUEUED, db_index=True)
    active_slot = models.PositiveSmallIntegerField(null=True, blank=True, editable=False, help_text=(
        "0..quota-1 while queued or running: the unique (owner, slot) pair makes the per-student quota race-safe."))
    attempt = models.PositiveIntegerField(_("attempt no."), default=1)
    published_attempt = models.PositiveIntegerField(_("published attempt"), null=True, blank=True)
    rq_job_id = models.CharField(_("RQ job id"), max_length=80, blank=True)
    job_timeout = models.PositiveIntegerField(_("job timeout (s)"), default=0)
    enqueued_at = models.DateTimeField(_("enqueued"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed by a worker"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    worker_pid = models.PositiveIntegerField(_("work horse PID"), null=True, blank=True)
    cancel_requested_at = models.DateTimeField(_("cancel requested"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    # Progress (written by the job at most every TRAINING_PROGRESS_WRITE_SECONDS, 1 s by default,
    # and at every evaluation and checkpoint)
    step = models.PositiveIntegerField(_("step"), default=0)
    total_steps = models.PositiveIntegerField(_("total steps"), default=0)
    epoch = models.FloatField(_("epoch"), null=True, blank=True)
    train_loss = models.FloatField(_("training loss"), null=True, blank=True)
    val_loss = models.FloatField(_("validation loss"), null=True, blank=True)
    learning_rate = models.FloatField(_("learning rate"), null=True, blank=True)
    tokens_per_second = models.FloatField(_("tokens per second"), null=True, blank=True)
    eta_seconds = models.FloatField(_("seconds left"), null=True, blank=True)
    overfitting = models.BooleanField(_("overfitting"), default=False)
    checkpoint_step = models.PositiveIntegerField(_("last checkpoint step"), default=0)
    log_lines = models.JSONField(default=list, blank=True)
    history = models.JSONField(default=list, blank=True)

    # Results
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    samples = models.JSONField(default=list, blank=True)
    archive_size = models.PositiveBigIntegerField(_("archive size (bytes)"), default=0)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_detail = models.TextField(_("technical detail"), blank=True,
                                    help_text=_("Traceback or worker message; shown to instructors only."))
    is_demo = models.BooleanField(_("site demo model"), default=False)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
        constraints = [
            # One run per (owner, slot) while active; the quota decides how many slots exist.
            models.UniqueConstraint(fields=["owner", "active_slot"], condition=Q(status__in=("queued", "running")),
                                    name="training_run_active_slot_per_owner"),
            models.UniqueConstraint(fields=["is_demo"], condition=Q(is_demo=True), name="training_run_single_demo"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or f"#{self.short_code}"

    @property
    def short_code(self) -> str:
        return self.code.hex[:8]

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_at is not None

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def job_id(self) -> str:
        return f"run-{self.pk}-{self.attempt}"

    @property
    def run_dir(self) -> Path:
        return conf.runs_root() / str(self.code)

    def attempt_dir(self, attempt: int) -> Path:
        """Each attempt writes into its own directory, so an orphaned execution can never
        overwrite the files of the attempt that publishes; a new attempt starts from a copy
        of the previous attempt's checkpoints."""
        return self.run_dir / f"attempt-{attempt}"

    @property
    def output_dir(self) -> Path:
        return self.attempt_dir(self.published_attempt or self.attempt)

    @property
    def is_instruction(self) -> bool:
        return self.task == self.INSTRUCTION_TASK

    @property
    def export_dir(self) -> Path | None:
        if self.status != self.SUCCEEDED or not self.published_attempt:
            return None
        return self.attempt_dir(self.published_attempt) / "export"

    @property
    def archive_name(self) -> str:
        return f"llmschool-{self.code}.zip"

    @property
    def archive_path(self) -> Path | None:
        if self.status != self.SUCCEEDED or not self.published_attempt:
            return None
        return self.attempt_dir(self.published_attempt) / self.archive_name

    @property
    def base_label(self) -> str:
        if self.base_run_id:
            return str(self.base_run)
        return str(self.base_model) if self.base_model_id else "—"

    @property
    def progress_percent(self) -> int:
        if self.status == self.SUCCEEDED:
            return 100
        if not self.total_steps:
            return 0
        return max(0, min(100, round(100 * self.step / self.total_steps)))

    def queue_position(self) -> int | None:
        """1 for the next run to start; None unless queued. Runs are served first come, first served."""
        if self.status != self.QUEUED:
            return None
        return TrainingRun.objects.filter(status=self.QUEUED, pk__lt=self.pk).count() + 1


class Calibration(models.Model):
    """How fast the training workers train one base model: tokens per second for one
    (base, block size, batch size, device). Measured by a few real steps on the worker
    (`calibrate_training`, or the worker's job for bases with no figure yet) and refined by
    every finished run's own speed (an exponential moving average)."""

    PROBE, RUN = "probe", "run"
    SOURCE_CHOICES = [(PROBE, _("calibration steps")), (RUN, _("finished run"))]

    base_key = models.CharField(_("base model"), max_length=500, help_text=_(
        "The engine's name of the base: scratch:<preset>, a Hub id, or a model directory."))
    block_size = models.PositiveIntegerField(_("block size"))
    batch_size = models.PositiveIntegerField(_("batch size"))
    device = models.CharField(_("device"), max_length=40, default="cpu")
    tokens_per_second = models.FloatField(_("tokens per second"))
    measurements = models.PositiveIntegerField(_("measurements"), default=1)
    source = models.CharField(_("last measured by"), max_length=10, choices=SOURCE_CHOICES, default=PROBE)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["base_key", "block_size", "batch_size"]
        verbose_name = _("speed calibration")
        verbose_name_plural = _("speed calibrations")
        constraints = [
            models.UniqueConstraint(fields=["base_key", "block_size", "batch_size", "device"],
                                    name="calibration_unique_setting"),
        ]

    def __str__(self):
        return f"{self.base_key} {self.block_size}x{self.batch_size} {self.device}: {self.tokens_per_second:.0f} tok/s"
