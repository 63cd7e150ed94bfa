"""A dataset's check as a job on the RQ `default` queue, never in the upload request.

An upload is stored as sent (`Dataset.original`) and marked "checking"; the job prepares it
(unzips, decodes, removes Aozora Bunko notation: engine.prepare_text), stores the UTF-8 text,
checks it (engine.check_dataset: the caps, token counts, the from-scratch tokenizer) and marks
the dataset ready, or failed with a reason a student can act on. A re-cleaning (notation kept
or removed) and a sample an instructor adds in the admin go the same way.

Every write is fenced by `check_attempt` (as a run's by its attempt): a replayed or orphaned
job changes nothing once a newer check owns the dataset. A job lost without a word (its work
horse killed) is found by the reconciler (`reconcile_checks`), which fails the check with
"check_lost" so the page offers "Check again" instead of "checking…" for ever.
"""
import logging
import traceback
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Callback

from training import conf
from training.models import BaseModel, Dataset, dataset_upload_to
from training.priority import lower_priority
from training.queueing import DEAD_STATUSES, job_fetch, job_status

log = logging.getLogger(__name__)

QUEUE_NAME = "default"
JOB_FUNCTION = "training.dataset_check.check_job"
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600
# An upload committed a moment ago is enqueued by its own on_commit hook: leave it that long.
ENQUEUE_GRACE = timedelta(seconds=5)


def check_queue():
    import django_rq

    # commit_mode="auto": callers already run after the commit (transaction.on_commit).
    return django_rq.get_queue(QUEUE_NAME, commit_mode="auto")


# Starting a check --------------------------------------------------------------------------------

def check_start(dataset: Dataset, *, prepare: bool) -> None:
    """Mark the dataset "checking" under a new attempt and enqueue the job once committed.
    `prepare`: the kept upload (`original`) is prepared first (an upload, a re-cleaning)."""
    Dataset.objects.filter(pk=dataset.pk).update(
        check_status=Dataset.CHECKING, check_attempt=F("check_attempt") + 1, check_phase="queued",
        prepare_pending=prepare, check_enqueued_at=None, check_started_at=None, check_detail="")
    dataset.refresh_from_db()
    transaction.on_commit(lambda: check_enqueue(dataset))


def check_enqueue(dataset: Dataset) -> bool:
    """Put the dataset's current check on the queue; False when Redis is unreachable (the
    reconciler enqueues it later)."""
    try:
        check_queue().enqueue_call(
            func=JOB_FUNCTION, args=(dataset.pk, dataset.check_attempt), job_id=dataset.check_job_id,
            timeout=conf.dataset_check_timeout(), result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
            description=f"dataset check {dataset.code} attempt {dataset.check_attempt}",
            on_failure=Callback("training.dataset_check.on_check_failure"), unique=True)
    except DuplicateJobError:
        log.info("job %s is already queued", dataset.check_job_id)
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue %s: %s (the reconciler will retry)", dataset.check_job_id, exc)
        return False
    Dataset.objects.filter(pk=dataset.pk, check_attempt=dataset.check_attempt).update(
        check_enqueued_at=timezone.now())
    return True


# The job ---------------------------------------------------------------------------------------------

def _owned(dataset_id: int, attempt: int):
    return Dataset.objects.filter(pk=dataset_id, check_attempt=attempt, check_status=Dataset.CHECKING)


def check_job(dataset_id: int, attempt: int) -> str:
    """The job: prepare (if pending) and check; "ready", "failed", "kept" (a refused
    re-cleaning left the dataset as it was) or "stale"."""
    if get_current_job() is not None:  # in a work horse (not a check run in-process): yield the CPU to pages
        lower_priority()
    if not _owned(dataset_id, attempt).update(check_started_at=timezone.now(), check_phase="preparing"):
        log.info("dataset %s check %s: not ours any more, nothing to do", dataset_id, attempt)
        return "stale"
    dataset = Dataset.objects.get(pk=dataset_id)
    try:
        return _prepare_and_check(dataset, attempt)
    except BaseException as exc:  # noqa: B036 - a timeout must be recorded too
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        code = "check_timeout" if type(exc).__name__ == "JobTimeoutException" else "check_internal"
        check_fail(dataset_id, attempt, code=code, detail=detail)
        if not isinstance(exc, Exception):
            raise
        log.exception("dataset %s check %s failed", dataset_id, attempt)
        return "failed"


def _prepare_and_check(dataset: Dataset, attempt: int) -> str:
    from training.engine import DatasetError

    new_file = ""
    try:
        values = {}
        if dataset.prepare_pending:
            new_file, values = _prepare(dataset)
        kind = _kind(dataset, new_file or dataset.file.name)
        if kind != dataset.kind:  # saved now, so that a refusal is shown as a conversations file's
            values["kind"] = dataset.kind = kind
            _owned(dataset.pk, attempt).update(kind=kind)
        report = _check_file(dataset, attempt, new_file or dataset.file.name)
    except DatasetError as exc:
        _delete(dataset, new_file)
        return _refused(dataset, attempt, exc.code, dict(exc.params or {}))
    except BaseException:
        _delete(dataset, new_file)
        raise
    old_file = dataset.file.name if new_file else ""
    keep_original = bool(values.get("preparation", {}).get("notation", {}).get("detected"))
    finished = _owned(dataset.pk, attempt).update(
        **values, report=report, error_code="", error_params={}, check_status=Dataset.READY, check_phase="",
        checked_at=timezone.now(), prepare_pending=False, reclean_error={},
        **({"file": new_file} if new_file else {}),
        **({"original": ""} if dataset.prepare_pending and not keep_original else {}))
    if not finished:  # deleted or re-checked meanwhile: this result is nobody's
        _delete(dataset, new_file)
        return "stale"
    _delete(dataset, old_file)
    if dataset.prepare_pending and not keep_original:
        _delete(dataset, dataset.original.name)
    return "ready"


def _prepare(dataset: Dataset) -> tuple[str, dict]:
    """Prepare the kept upload and store the UTF-8 text under a new generated name."""
    from training.engine import prepare_text

    with dataset.original.open("rb") as handle:
        raw = handle.read()
    # The name as uploaded says .jsonl/.csv/text; a .zip is known by its first bytes anyway.
    text, preparation = prepare_text(raw, dataset.upload_name or "upload.txt", keep_notation=dataset.keep_notation,
                                     max_bytes=conf.dataset_max_bytes(), limits=conf.corpus_limits())
    data = text.encode("utf-8")
    name = dataset.file.storage.save(dataset_upload_to(dataset, f"upload.{preparation.kind}"), ContentFile(data))
    return name, {"size_bytes": len(data), "encoding": preparation.encoding, "keep_notation": preparation.keep_notation,
                  "preparation": preparation.to_dict()}


def _kind(dataset: Dataset, name: str) -> str:
    """An instruction dataset if the student said so or the prepared .jsonl holds conversations
    ("messages", or Alpaca's "instruction"/"output" on its first line), else a text."""
    from training.engine import looks_like_instructions

    if dataset.kind == Dataset.INSTRUCTION or not name.endswith(".jsonl"):
        return dataset.kind
    with dataset.file.storage.open(name, "rb") as handle:
        head = handle.read(conf.corpus_limits().max_line_chars * 4 + 1).decode("utf-8", errors="replace")
    first_line = next((line for line in head.splitlines() if line.strip()), "")
    try:
        return Dataset.INSTRUCTION if looks_like_instructions(first_line) else Dataset.TEXT
    except RecursionError:  # nested too deep: the check refuses it with its line
        return Dataset.TEXT


def _check_file(dataset: Dataset, attempt: int, name: str) -> dict:
    from training.engine import check_dataset, check_instruction_dataset

    def phase(label: str) -> None:
        _owned(dataset.pk, attempt).update(check_phase=label)

    check = check_instruction_dataset if dataset.is_instruction else check_dataset
    extra = {} if dataset.is_instruction else {"tokenizer_dir": None}
    report = check(dataset.file.storage.path(name), max_bytes=conf.dataset_stored_max_bytes(),
                   cache_dir=str(conf.models_dir()),
                   base_kinds=tuple(b.engine_key for b in BaseModel.objects.filter(enabled=True)),
                   limits=conf.corpus_limits(), on_phase=phase, **extra)
    return report.to_dict()


def _refused(dataset: Dataset, attempt: int, code: str, params: dict) -> str:
    """The file cannot be used. A re-cleaning leaves the dataset as it was and says why; an
    upload is failed with the reason (its files are removed: nothing can train on them)."""
    if dataset.prepare_pending and dataset.report and dataset.file:
        kept = not dataset.keep_notation
        done = _owned(dataset.pk, attempt).update(
            check_status=Dataset.READY, check_phase="", prepare_pending=False, keep_notation=kept,
            reclean_error={"code": code, "params": params}, checked_at=timezone.now())
        return "kept" if done else "stale"
    if not check_fail(dataset.pk, attempt, code=code, params=params):
        return "stale"
    if dataset.prepare_pending:
        _delete(dataset, dataset.original.name)
        Dataset.objects.filter(pk=dataset.pk, check_attempt=attempt).update(original="")
    return "failed"


def check_fail(dataset_id: int, attempt: int, *, code: str, params: dict | None = None, detail: str = "") -> bool:
    return bool(_owned(dataset_id, attempt).update(
        check_status=Dataset.FAILED, check_phase="", error_code=code, error_params=params or {}, report={},
        check_detail=detail[-20_000:], checked_at=timezone.now()))


def _delete(dataset: Dataset, name: str) -> None:
    if name:
        try:
            dataset.file.storage.delete(name)
        except OSError:
            log.warning("could not delete %s", name)


def on_check_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's on_failure: a timeout or an exception the job did not record, an abandoned job."""
    try:
        dataset_id, attempt = (int(value) for value in job.args[:2])
    except (TypeError, ValueError):
        return
    name = getattr(exc_type, "__name__", "")
    code = "check_timeout" if name == "JobTimeoutException" else (
        "check_lost" if name == "AbandonedJobError" else "check_internal")
    check_fail(dataset_id, attempt, code=code, detail=f"{name}: {exc_value}")


# The reconciler ----------------------------------------------------------------------------------------

def reconcile_checks(connection, *, now=None) -> dict:
    """No dataset stays "checking" for ever: a check whose job is gone from Redis before it
    started is enqueued again; one whose job died (a killed work horse: RQ runs no hook then),
    or that has been started for longer than its time limit, is failed with "check_lost"."""
    now = now or timezone.now()
    counts: dict = {}
    for dataset in Dataset.objects.filter(check_status=Dataset.CHECKING).order_by("pk"):
        outcome = _reconcile_one(dataset, now, connection)
        if outcome != "ok":
            counts[f"check_{outcome}"] = counts.get(f"check_{outcome}", 0) + 1
    return counts


def _reconcile_one(dataset: Dataset, now, connection) -> str:
    if dataset.check_enqueued_at is None and dataset.check_started_at is None:
        if dataset.created_at > now - ENQUEUE_GRACE:
            return "ok"
    job = job_fetch(dataset.check_job_id, connection)
    status = job_status(job)
    if dataset.check_started_at is None and status is None:
        return "enqueued" if check_enqueue(dataset) else "enqueue_failed"
    limit = timedelta(seconds=conf.dataset_check_timeout() + 120)
    overdue = dataset.check_started_at is not None and dataset.check_started_at < now - limit
    if status in DEAD_STATUSES or (status is None and dataset.check_started_at is not None) or overdue:
        detail = f"Reconciler: the check job is {status or 'gone'} (started {dataset.check_started_at})."
        lost = check_fail(dataset.pk, dataset.check_attempt, code="check_lost", detail=detail)
        return "lost" if lost else "ok"
    return "ok"  # queued, or started and within its time limit
