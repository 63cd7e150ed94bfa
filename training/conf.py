"""Training settings with their defaults in one place.

llmschool/settings.py defines the ones an operator usually sets (quotas, heartbeat,
attempts); the rest are knobs with sane defaults that tests and big sites may override.
Read them through these functions, at call time, so that override_settings works.
"""
import json
import os
from pathlib import Path

from django.conf import settings


def _get(name, default):
    """The setting if settings.py defines it, else the environment variable of that name
    (so worker processes started with a different environment pick knobs up), else default."""
    if hasattr(settings, name):
        return getattr(settings, name)
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return type(default)(raw) if isinstance(default, (int, float)) else raw


def max_active_runs_per_user() -> int:
    return max(1, int(_get("TRAINING_MAX_ACTIVE_RUNS_PER_USER", 1)))


def max_queued_runs() -> int:
    return int(_get("TRAINING_MAX_QUEUED_RUNS", 50))


def heartbeat_stale_seconds() -> float:
    return float(_get("TRAINING_HEARTBEAT_STALE_SECONDS", 90))


def heartbeat_interval_seconds() -> float:
    """How often a running job proves it is alive: well inside the stale limit."""
    return max(0.5, min(10.0, heartbeat_stale_seconds() / 4))


def max_attempts() -> int:
    return max(1, int(_get("TRAINING_MAX_ATTEMPTS", 3)))


def reconcile_interval_seconds() -> float:
    return float(_get("TRAINING_RECONCILE_INTERVAL_SECONDS", 60))


def job_timeout_max() -> int:
    return int(_get("TRAINING_JOB_TIMEOUT_MAX", 6 * 3600))


def job_timeout_min() -> int:
    return int(_get("TRAINING_JOB_TIMEOUT_MIN", 600))


def max_token_budget() -> int:
    """Tokens x epochs a single run may process (bounds CPU time and the job timeout)."""
    return int(_get("TRAINING_MAX_TOKEN_BUDGET", 50_000_000))


def dataset_max_bytes() -> int:
    return int(_get("DATASET_MAX_BYTES", 10 * 1024 * 1024))


def dataset_stored_max_bytes() -> int:
    """The cap on a stored (UTF-8) dataset file: Shift_JIS or UTF-16 text grows by up to half
    when converted to UTF-8, so an upload under the cap may be stored over it."""
    return 2 * dataset_max_bytes()


def log_lines_kept() -> int:
    return int(_get("TRAINING_LOG_LINES", 200))


def runs_root() -> Path:
    """Where run outputs (checkpoints, export, archive) live; never served as static media."""
    return Path(_get("TRAINING_RUNS_DIR", Path(settings.MEDIA_ROOT) / "runs"))


def models_dir() -> Path:
    """Cache of downloaded base models (Hub ids), shared with the workers."""
    return Path(settings.MODELS_DIR)


def extra_hyperparameters() -> dict:
    """Values added to every new run's hyperparameters (e.g. num_threads for a site, or short
    intervals for tests); bounded like any other value (services.BOUNDS)."""
    value = _get("TRAINING_EXTRA_HYPERPARAMETERS", {})
    return json.loads(value) if isinstance(value, str) else dict(value)


def progress_write_seconds() -> float:
    """Minimum time between two progress writes of a job (evaluations and checkpoints always write)."""
    return float(_get("TRAINING_PROGRESS_WRITE_SECONDS", 1.0))


def cancel_grace_seconds() -> float:
    """A running job that has not stopped this long after a cancel request is killed."""
    return float(_get("TRAINING_CANCEL_GRACE_SECONDS", 15.0))


def playground_max_new_tokens() -> int:
    return int(_get("TRAINING_PLAYGROUND_MAX_NEW_TOKENS", 200))


def calibrate_at_start() -> bool:
    """Whether a starting training worker queues the speed calibration of bases that have no
    figure yet (the suite's worker tests turn it off: their queue holds only their runs)."""
    return str(_get("TRAINING_CALIBRATE_AT_START", "1")).lower() not in ("0", "false", "no", "off")
