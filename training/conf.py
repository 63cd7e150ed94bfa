"""The training settings, read at call time so that override_settings (and a fault worker's
FAULT_SETTINGS) take effect.

Each value is read from the environment, checked and given its default in one place,
llmschool/settings.py (see llmschool/env.py); these functions only name them for the
training code and derive the values that follow from them. Worker processes get other
values through their environment, which their own settings read at start.
"""
from pathlib import Path

from django.conf import settings


def max_active_runs_per_user() -> int:
    return settings.TRAINING_MAX_ACTIVE_RUNS_PER_USER


def max_queued_runs() -> int:
    return settings.TRAINING_MAX_QUEUED_RUNS


def max_queued_runs_per_address() -> int:
    """Queued runs of all the accounts signed up from one client address (User.signup_ip)."""
    return settings.TRAINING_MAX_QUEUED_RUNS_PER_ADDRESS


def require_verified_email() -> bool:
    return settings.REQUIRE_VERIFIED_EMAIL


def heartbeat_stale_seconds() -> float:
    return settings.TRAINING_HEARTBEAT_STALE_SECONDS


def heartbeat_interval_seconds() -> float:
    """How often a running job proves it is alive: well inside the stale limit."""
    return max(0.5, min(10.0, heartbeat_stale_seconds() / 4))


def max_attempts() -> int:
    return settings.TRAINING_MAX_ATTEMPTS


def reconcile_interval_seconds() -> float:
    return settings.TRAINING_RECONCILE_INTERVAL_SECONDS


def job_timeout_max() -> int:
    return settings.TRAINING_JOB_TIMEOUT_MAX


def job_timeout_min() -> int:
    return settings.TRAINING_JOB_TIMEOUT_MIN


def max_token_budget() -> int:
    """Tokens x epochs a single run may process (bounds CPU time and the job timeout)."""
    return settings.TRAINING_MAX_TOKEN_BUDGET


def dataset_max_bytes() -> int:
    return settings.DATASET_MAX_BYTES


def dataset_stored_max_bytes() -> int:
    """The cap on a stored (UTF-8) dataset file: Shift_JIS or UTF-16 text grows by up to half
    when converted to UTF-8, so an upload under the cap may be stored over it."""
    return 2 * dataset_max_bytes()


# The system account that owns the site's demo model run (seed_demo_model creates it; no one logs in as it).
DEMO_USERNAME = "site-demo"


def demo_model_seed() -> bool:
    return settings.DEMO_MODEL_SEED


def corpus_limits():
    """The engine's caps on a dataset's lines, line length and JSON nesting."""
    from training.engine import CorpusLimits

    return CorpusLimits(max_lines=settings.DATASET_MAX_LINES, max_line_chars=settings.DATASET_MAX_LINE_CHARS,
                        max_json_depth=settings.DATASET_MAX_JSON_DEPTH)


def dataset_check_timeout() -> int:
    return settings.DATASET_CHECK_TIMEOUT


def log_lines_kept() -> int:
    return settings.TRAINING_LOG_LINES


def runs_root() -> Path:
    """Where run outputs (checkpoints, export, archive) live; never served as static media.
    Unset, it follows MEDIA_ROOT (derived here, at call time, so a test's MEDIA_ROOT carries it)."""
    return Path(settings.TRAINING_RUNS_DIR or Path(settings.MEDIA_ROOT) / "runs")


def models_dir() -> Path:
    """Cache of downloaded base models (Hub ids), shared with the workers."""
    return Path(settings.MODELS_DIR)


def extra_hyperparameters() -> dict:
    """Values added to every new run's hyperparameters (e.g. num_threads for a site, or short
    intervals for tests); bounded like any other value (services.BOUNDS)."""
    return dict(settings.TRAINING_EXTRA_HYPERPARAMETERS)


def progress_write_seconds() -> float:
    """Minimum time between two progress writes of a job (evaluations and checkpoints always write)."""
    return settings.TRAINING_PROGRESS_WRITE_SECONDS


def cancel_grace_seconds() -> float:
    """A running job that has not stopped this long after a cancel request is killed."""
    return settings.TRAINING_CANCEL_GRACE_SECONDS


def playground_max_new_tokens() -> int:
    return settings.TRAINING_PLAYGROUND_MAX_NEW_TOKENS


def calibrate_at_start() -> bool:
    """Whether a starting training worker queues the speed calibration of bases that have no
    figure yet (the suite's worker tests turn it off: their queue holds only their runs)."""
    return settings.TRAINING_CALIBRATE_AT_START


def inference_max_loaded_models() -> int:
    return settings.INFERENCE_MAX_LOADED_MODELS


def storage_quota_mb() -> int:
    """Disk quota per student, datasets and runs together (MiB; 0: none). See training/storage.py."""
    return settings.TRAINING_STORAGE_QUOTA_MB


def resume_keep_hours() -> float:
    """How long a failed or cancelled run keeps its newest checkpoint, so that a requeue resumes from it."""
    return settings.TRAINING_RESUME_KEEP_HOURS


def storage_sweep_interval_seconds() -> float:
    return settings.TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS


def inference_torch_threads() -> int:
    """Torch intra-op threads of an inference worker (0: torch's default)."""
    return settings.INFERENCE_TORCH_THREADS


def inference_wait_seconds() -> float:
    return settings.INFERENCE_WAIT_SECONDS


def inference_rate_per_minute() -> int:
    return settings.INFERENCE_RATE_PER_MINUTE


def inference_waiting_per_process() -> int:
    return settings.INFERENCE_WAITING_PER_PROCESS


def inference_max_queued() -> int:
    return settings.INFERENCE_MAX_QUEUED


def inference_fair_share_per_minute() -> int:
    return settings.INFERENCE_FAIR_SHARE_PER_MINUTE


def inference_job_timeout() -> int:
    return settings.INFERENCE_JOB_TIMEOUT


def worker_niceness() -> int:
    return settings.WORKER_NICENESS
