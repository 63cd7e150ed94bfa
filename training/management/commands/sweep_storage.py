from django.core.management.base import BaseCommand
from django.template.defaultfilters import filesizeformat

from training.storage import SWEEP_GRACE_SECONDS, sweep


class Command(BaseCommand):
    help = ("Remove files no run or dataset needs: run folders and dataset files whose row is gone, and what "
            "finished runs no longer need (checkpoints, duplicate weights, failed and cancelled runs' checkpoints past "
            "TRAINING_RESUME_KEEP_HOURS). Files modified in the last hour are left alone. The training worker "
            "also does this every TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only print what would be removed")
        parser.add_argument("--grace-seconds", type=float, default=SWEEP_GRACE_SECONDS,
                            help="leave files modified this recently alone (default: %(default)s)")

    def handle(self, *args, dry_run=False, grace_seconds=SWEEP_GRACE_SECONDS, **options):
        result = sweep(dry_run=dry_run, grace_seconds=max(0.0, grace_seconds))
        for path, size, why in result.removed:
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {path} ({filesizeformat(size)}, {why})")
        total = filesizeformat(result.bytes)
        if dry_run:
            self.stdout.write(f"Would free {total} ({result.bytes} bytes) in {len(result.removed)} paths.")
        else:
            self.stdout.write(f"Freed {total} ({result.bytes} bytes) in {len(result.removed)} paths.")
