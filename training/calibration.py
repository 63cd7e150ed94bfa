"""Training speed per base model, as the workers measured it (the Calibration table).

The web process only reads figures here (no torch): `speed_for` gives the tokens per second a
plan counts on. Figures are written on the worker: `calibration_measure` runs a few real steps
(the `calibrate_training` command and the worker's job for bases with no figure yet), and
`calibration_from_run` folds in every finished run's own speed.
"""
import logging

from django.db import transaction

from training.models import BaseModel, Calibration

log = logging.getLogger(__name__)

# Weight of a new measurement in the moving average: a few runs move the figure, one odd run
# (a busy machine) does not ruin it.
EMA_WEIGHT = 0.3
# A single measurement counts as at most this factor off the current figure: one run on a
# machine busy with something else (seen: 230 tokens/s against 2,900) moves the figure by 15 %,
# not 28 %, and the runs after it are not planned short; a lasting change still comes through
# in a few runs.
OUTLIER_FACTOR = 2.0
CALIBRATION_JOB_ID = "calibrate-missing-bases"


def speed_for(*, base_key: str, block_size: int, batch_size: int) -> dict:
    """{"tokens_per_second", "calibrated", "device"}: the exact setting's figure, else the same
    base and block size at the nearest batch size, else a conservative guess from the size."""
    rows = list(Calibration.objects.filter(base_key=base_key).order_by("-updated_at"))
    same_block = [row for row in rows if row.block_size == block_size]
    exact = [row for row in same_block if row.batch_size == batch_size]
    candidates = exact or sorted(same_block, key=lambda row: abs(row.batch_size - batch_size)) or rows
    if candidates:
        row = candidates[0]
        return {"tokens_per_second": row.tokens_per_second, "calibrated": True, "device": row.device}
    from training.engine import fallback_tokens_per_second

    return {"tokens_per_second": fallback_tokens_per_second(base_key, block_size), "calibrated": False,
            "device": ""}


def calibration_record(*, base_key: str, block_size: int, batch_size: int, device: str,
                       tokens_per_second: float, source: str) -> Calibration:
    """Store a measurement: the first one as is, later ones as a moving average (each counted as
    at most OUTLIER_FACTOR away from the current figure)."""
    if not tokens_per_second or tokens_per_second <= 0:
        raise ValueError("a speed must be positive")
    with transaction.atomic():
        row, created = Calibration.objects.select_for_update().get_or_create(
            base_key=base_key, block_size=block_size, batch_size=batch_size, device=device or "cpu",
            defaults={"tokens_per_second": tokens_per_second, "source": source})
        if not created:
            current = row.tokens_per_second
            measured = min(max(tokens_per_second, current / OUTLIER_FACTOR), current * OUTLIER_FACTOR)
            row.tokens_per_second = (1 - EMA_WEIGHT) * current + EMA_WEIGHT * measured
            row.measurements += 1
            row.source = source
            row.save(update_fields=["tokens_per_second", "measurements", "source", "updated_at"])
    return row


def run_base_key(run) -> str:
    return str(run.base_run.export_dir) if run.base_run_id else run.base_model.engine_key


def calibration_from_run(run, result: dict) -> Calibration | None:
    """Fold a finished run's speed (tokens seen over the seconds of its training loop) in."""
    hyper = result.get("hyperparameters") or {}
    seconds = float(result.get("train_seconds") or 0)
    tokens = int(result.get("tokens_seen") or 0)
    if seconds <= 0 or tokens <= 0 or run.base_run_id:  # a previous run's export is no shared base
        return None
    try:
        return calibration_record(
            base_key=run_base_key(run), block_size=int(hyper.get("block_size") or run.hyperparameters["block_size"]),
            batch_size=int(hyper.get("batch_size") or run.hyperparameters["batch_size"]),
            device=str(hyper.get("device") or "cpu"), tokens_per_second=tokens / seconds, source=Calibration.RUN)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("run %s: speed not recorded (%s)", run.pk, exc)
        return None


def settings_to_calibrate(base: BaseModel) -> list[tuple[int, int]]:
    """(block size, batch size) pairs the presets use for this base."""
    from training.engine import BATCH_SETTINGS as SETTINGS

    values = SETTINGS["scratch" if base.is_scratch else "pretrained"]
    block = min(int(values["block_size"]), base.block_size_limit())
    return [(block, int(values["batch_size"]))]


def bases_without_calibration() -> list[BaseModel]:
    missing = []
    for base in BaseModel.objects.filter(enabled=True):
        pairs = settings_to_calibrate(base)
        known = set(Calibration.objects.filter(base_key=base.engine_key).values_list("block_size", "batch_size"))
        if not set(pairs) <= known and base.is_present:
            missing.append(base)
    return missing


def calibration_measure(base: BaseModel, *, steps: int = 6) -> list[Calibration]:
    """A few real training steps of `base` on this machine (loads torch: worker side only)."""
    from training import conf
    from training.engine import calibrate

    rows = []
    for block_size, batch_size in settings_to_calibrate(base):
        figures = calibrate(base_kind="scratch" if base.is_scratch else "pretrained", base_source=base.source,
                            block_size=block_size, batch_size=batch_size, steps=steps,
                            cache_dir=str(conf.models_dir()))
        rows.append(calibration_record(base_key=base.engine_key, block_size=block_size, batch_size=batch_size,
                                       device=figures["device"], tokens_per_second=figures["tokens_per_second"],
                                       source=Calibration.PROBE))
        log.info("calibrated %s at %sx%s on %s: %.0f tokens/s", base.key, block_size, batch_size,
                 figures["device"], figures["tokens_per_second"])
    return rows


def calibrate_missing_bases() -> int:
    """The worker's job: measure every enabled base that has no figure yet. Returns how many."""
    count = 0
    for base in bases_without_calibration():
        try:
            calibration_measure(base)
            count += 1
        except Exception:  # one broken base must not stop the others
            log.exception("calibration of %s failed", base.key)
    return count


def calibration_enqueue_missing() -> bool:
    """At worker start: queue the calibration job when some base has no figure (deterministic
    job id, so several workers starting together queue it once). False when nothing to do."""
    if not bases_without_calibration():
        return False
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError

    from training.queueing import training_queue

    try:
        training_queue().enqueue_call(func="training.calibration.calibrate_missing_bases",
                                      job_id=CALIBRATION_JOB_ID, timeout=600, result_ttl=60, failure_ttl=3600,
                                      description="measure the training speed of new base models", unique=True)
    except DuplicateJobError:
        return False
    except (RedisError, OSError) as exc:
        log.warning("could not queue the calibration job: %s", exc)
        return False
    return True
