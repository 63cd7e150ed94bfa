from django.core.management.base import BaseCommand

from training.reconciler import reconcile


class Command(BaseCommand):
    help = ("Make sure no training run is stuck: enqueue queued runs that have no job, resume or fail "
            "running runs whose worker is gone. The training worker also does this every minute.")

    def handle(self, *args, **options):
        counts = reconcile()
        if not counts:
            self.stdout.write("All runs are consistent with the queue.")
        for key, count in sorted(counts.items()):
            self.stdout.write(f"{key}: {count}")
