"""What runs and datasets keep on disk, what that costs each student, and the sweep of the rest.

What a run keeps once it is final (README "Disk"):

- succeeded: its export/ (the playground, the lab and follow-up runs load it) and its archive.
  Checkpoints (optimizer state is about twice the weights), best/ (the same weights as the
  export), the scratch tokenizer's working copy and earlier attempts are removed.
- failed or cancelled: the newest attempt that has a checkpoint (with its best/ and tokenizer),
  for TRAINING_RESUME_KEEP_HOURS after it ended, because an instructor can queue it again and
  it resumes there (a "disk full" failure says so; a run cancelled in a slow checkpoint write
  is requeued from its last good one). It counts towards the student's quota, so cancelling
  run after run cannot fill the disk. Earlier attempts go at once, the rest when that time is
  over (a later requeue starts from step 0); a run with no checkpoint keeps nothing.

Final transitions prune at once (training/lifecycle.py, training/jobs.py); the sweep
(`manage.py sweep_storage`, and the reconciler every TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS)
catches what they could not: the leftovers of final runs, failed and cancelled runs past their
time, and
run folders or dataset files whose row is gone. Anything modified within SWEEP_GRACE_SECONDS
is left alone (a dataset file is written before its row is saved).

The storage quota (TRAINING_STORAGE_QUOTA_MB) counts the bytes of a student's datasets and
runs on disk; instructors and staff have none (they publish the shared samples and the demo).
"""
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from training import conf
from training.models import Dataset, TrainingRun

log = logging.getLogger(__name__)

SWEEP_GRACE_SECONDS = 3600
# A model's files once it succeeded: the export and the archive, both about 4 bytes per parameter.
BYTES_PER_PARAMETER_KEPT = 8


# Sizes ----------------------------------------------------------------------------------------

def tree_bytes(path: Path, seen: set | None = None) -> int:
    """Bytes of the regular files under `path` (or of `path` itself); a file hard-linked twice
    (an attempt's checkpoint seeded from the previous one) counts once per `seen`."""
    seen = set() if seen is None else seen
    total = 0
    for file in _files(Path(path)):
        try:
            stat = file.lstat()
        except OSError:
            continue
        key = (stat.st_dev, stat.st_ino)
        if key not in seen:
            seen.add(key)
            total += stat.st_size
    return total


def _files(path: Path):
    if path.is_symlink() or path.is_file():
        yield path
        return
    for directory, _dirs, names in os.walk(path):
        for name in names:
            yield Path(directory) / name


def newest_mtime(path: Path) -> float:
    """The latest modification time of `path` or anything under it (0 when it is gone)."""
    newest = 0.0
    for candidate in [path, *_files(path)] + [Path(d) for d, _dirs, _names in os.walk(path)]:
        try:
            newest = max(newest, candidate.lstat().st_mtime)
        except OSError:
            continue
    return newest


def dataset_files(dataset: Dataset) -> list[Path]:
    """Every stored file of a dataset (every FileField: the text, the kept original, ...)."""
    found = []
    for model_field in Dataset._meta.get_fields():
        if isinstance(model_field, models.FileField):
            stored = getattr(dataset, model_field.name)
            if stored and stored.name:
                found.append(Path(stored.path))
    return found


# The quota ------------------------------------------------------------------------------------

@dataclass
class Usage:
    """A student's bytes on disk against their quota (`limit` None: no quota)."""

    used: int
    limit: int | None
    datasets: int = 0
    runs: int = 0

    @property
    def free(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0
        return max(0, min(100, round(100 * self.used / self.limit)))

    @property
    def full(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def fits(self, needed: int) -> bool:
        return self.limit is None or self.used + max(0, needed) <= self.limit


def quota_bytes(user) -> int | None:
    """The user's storage quota; None for instructors and staff, and when the site sets 0."""
    megabytes = conf.storage_quota_mb()
    if user is None or not megabytes or getattr(user, "is_staff", False) or getattr(user, "is_instructor", False):
        return None
    return int(megabytes) * 1024 * 1024


def usage_for(user) -> Usage:
    seen: set = set()
    datasets = sum(tree_bytes(path, seen) for dataset in Dataset.objects.filter(owner=user)
                   for path in dataset_files(dataset))
    runs = sum(tree_bytes(run.run_dir, seen) for run in TrainingRun.objects.filter(owner=user).only("code"))
    return Usage(used=datasets + runs, limit=quota_bytes(user), datasets=datasets, runs=runs)


def run_bytes_expected(parameters: int) -> int:
    """What a succeeded run of a model with `parameters` keeps (export and archive)."""
    return int(parameters) * BYTES_PER_PARAMETER_KEPT


# What a final run keeps --------------------------------------------------------------------------

def resume_keep_until(run: TrainingRun) -> datetime | None:
    """Until when a failed or cancelled run keeps what a requeue resumes from."""
    if run.status not in (TrainingRun.FAILED, TrainingRun.CANCELLED) or run.finished_at is None:
        return None
    return run.finished_at + timedelta(hours=conf.resume_keep_hours())


def _attempt_number(path: Path) -> int | None:
    number = path.name.removeprefix("attempt-")
    return int(number) if path.name.startswith("attempt-") and number.isdigit() else None


def _resumable_attempt(run: TrainingRun) -> Path | None:
    """The newest attempt folder holding a checkpoint (what attempts.attempt_dir_prepare seeds from)."""
    numbered = sorted(((n, p) for p in run.run_dir.glob("attempt-*") if (n := _attempt_number(p)) is not None),
                      reverse=True)
    for _number, path in numbered:
        checkpoints = path / "checkpoints"
        if checkpoints.is_dir() and any(checkpoints.iterdir()):
            return path
    return None


def run_kept_paths(run: TrainingRun, now: datetime | None = None) -> set[Path] | None:
    """The paths under run_dir a run keeps; None while it is active (it keeps everything)."""
    if run.status in TrainingRun.ACTIVE:
        return None
    if run.status == TrainingRun.SUCCEEDED:
        kept = {path for path in (run.export_dir, run.archive_path) if path is not None}
        return kept
    until = resume_keep_until(run)
    if until is not None and (now or timezone.now()) < until:
        attempt = _resumable_attempt(run)
        return {attempt} if attempt else set()
    return set()


def _unkept(path: Path, kept: set[Path]) -> list[Path]:
    if path in kept or not (path.exists() or path.is_symlink()):
        return []
    if path.is_dir() and not path.is_symlink() and any(path in k.parents for k in kept):
        return [found for child in sorted(path.iterdir()) for found in _unkept(child, kept)]
    return [path]


def run_leftovers(run: TrainingRun, now: datetime | None = None) -> list[Path]:
    """What run_prune would remove now."""
    kept = run_kept_paths(run, now)
    return [] if kept is None else _unkept(run.run_dir, kept)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def run_prune(run: TrainingRun, now: datetime | None = None) -> int:
    """Remove what a final run no longer needs (see the module's docstring); bytes freed."""
    leftovers = run_leftovers(run, now)
    seen: set = set()
    freed = sum(tree_bytes(path, seen) for path in leftovers)
    for path in leftovers:
        remove_path(path)
    if leftovers:
        log.info("run %s (%s): %s bytes of files no longer needed removed", run.pk, run.status, freed)
    return freed


def run_prune_by_id(run_id: int) -> int:
    """After a final transition: prune the run as it is now (a requeue in between keeps all)."""
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return 0
    try:
        return run_prune(run)
    except OSError as exc:  # the sweep tries again later
        log.warning("run %s: could not remove its files (%s)", run_id, exc)
        return 0


# The sweep -------------------------------------------------------------------------------------

@dataclass
class Sweep:
    """What a sweep removed (or, dry, would remove): (path, bytes, why) rows."""

    removed: list = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(size for _path, size, _why in self.removed)

    def add(self, path: Path, why: str, seen: set) -> None:
        self.removed.append((path, tree_bytes(path, seen), why))


def sweep(*, now: datetime | None = None, dry_run: bool = False,
          grace_seconds: float = SWEEP_GRACE_SECONDS) -> Sweep:
    """Remove the leftovers of final runs and the files no row owns (modified more than
    `grace_seconds` before `now`). With dry_run, only say what would go."""
    now = now or timezone.now()
    cutoff = now.timestamp() - grace_seconds
    result, seen = Sweep(), set()
    _sweep_runs(result, seen, now, cutoff)
    _sweep_datasets(result, seen, cutoff)
    if not dry_run:
        for path, _size, _why in result.removed:
            remove_path(path)
        if result.removed:
            log.info("storage sweep: %s paths, %s bytes removed", len(result.removed), result.bytes)
    return result


def _sweep_runs(result: Sweep, seen: set, now: datetime, cutoff: float) -> None:
    root = conf.runs_root()
    if not root.is_dir():
        return
    folders = {}
    for path in root.iterdir():
        try:
            folders[uuid.UUID(path.name)] = path
        except ValueError:
            continue  # not a run folder: not ours to judge
    runs = {run.code: run for run in TrainingRun.objects.filter(code__in=list(folders))}
    for code, path in sorted(folders.items(), key=lambda item: str(item[1])):
        run = runs.get(code)
        if run is None:
            if path.is_dir() and not path.is_symlink() and newest_mtime(path) < cutoff:
                result.add(path, "no run", seen)
            continue
        for leftover in run_leftovers(run, now):
            if newest_mtime(leftover) < cutoff:
                result.add(leftover, f"{run.status} run", seen)


def _sweep_datasets(result: Sweep, seen: set, cutoff: float) -> None:
    """Top-level files of MEDIA_ROOT/datasets and of its originals/ folder that no dataset names."""
    media = Path(settings.MEDIA_ROOT)
    known = {path for dataset in Dataset.objects.all() for path in dataset_files(dataset)}
    for folder in (media / "datasets", media / "datasets" / "originals"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.is_symlink() and path not in known and newest_mtime(path) < cutoff:
                result.add(path, "no dataset", seen)
