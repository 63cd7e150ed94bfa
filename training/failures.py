"""Why a run failed, as a reason a student can act on (training.reasons.RUN_FAILURES): chosen
by the exception's type, never by its message text."""
import errno


class DatasetFileMissing(FileNotFoundError):
    """The run's dataset (row or file) is gone: a reason of its own, not an internal error."""


def failure_code(exc: BaseException) -> str:
    """Map an exception to a student-facing reason (training.reasons.RUN_FAILURES)."""
    from rq.timeouts import JobTimeoutException

    from training import engine

    if isinstance(exc, engine.TrainingCancelled):
        return "cancelled"
    if isinstance(exc, engine.DatasetError):
        return "not_enough_data" if getattr(exc, "code", "") in ("too_small", "empty") else "dataset_invalid"
    if isinstance(exc, engine.BaseModelMissing):
        return "base_missing"
    if isinstance(exc, (engine.OutOfMemory, MemoryError)):  # the engine turns torch's OutOfMemoryError into OutOfMemory
        return "out_of_memory"
    if isinstance(exc, JobTimeoutException):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    if isinstance(exc, DatasetFileMissing):
        return "dataset_missing"
    if isinstance(exc, engine.EngineError) and getattr(exc, "code", "") in ("diverged", "invalid_config"):
        return exc.code
    return "internal"
