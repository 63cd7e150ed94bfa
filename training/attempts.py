"""Each attempt of a run trains in a folder of its own; a new attempt starts from a copy of the
newest earlier attempt that has checkpoints, so the engine resumes there."""
import os
import shutil

from training.models import TrainingRun


def attempt_dir_prepare(run: TrainingRun, attempt: int) -> int | None:
    """Give this attempt its own directory, seeded from the newest earlier attempt that has
    checkpoints (the engine resumes from output_dir). Returns that attempt's number."""
    target = run.attempt_dir(attempt)
    if target.exists():
        return None
    earlier = sorted((int(p.name.split("-")[1]), p) for p in run.run_dir.glob("attempt-*")
                     if p.name.split("-")[1].isdigit() and int(p.name.split("-")[1]) < attempt)
    for number, source in reversed(earlier):
        if (source / "checkpoints").is_dir() and any((source / "checkpoints").iterdir()):
            staging = target.with_name(target.name + ".staging")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns("export", "*.zip", "*.tmp-*", "*.old"))
            os.replace(staging, target)
            return number
    target.mkdir(parents=True, exist_ok=True)
    return None


def _link_or_copy(source, destination):
    """Checkpoint files are written once and replaced atomically, so hard links are safe
    (and cheap for big models); small files such as logs are copied."""
    if os.path.getsize(source) > 1_000_000:
        try:
            os.link(source, destination)
            return destination
        except OSError:
            pass
    return shutil.copy2(source, destination)
