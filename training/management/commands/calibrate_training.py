from django.core.management.base import BaseCommand, CommandError

from training.calibration import calibration_measure
from training.models import BaseModel


class Command(BaseCommand):
    help = ("Measure how fast this machine trains each enabled base model (a few real steps each) and "
            "store it: the presets turn this speed into a number of steps. Run it on a training host; "
            "the training worker also does it at start for bases that have no figure yet.")

    def add_arguments(self, parser):
        parser.add_argument("keys", nargs="*", help="base model keys (default: every enabled, present base)")
        parser.add_argument("--steps", type=int, default=6, help="timed steps per base (default 6)")

    def handle(self, *args, keys, steps, **options):
        bases = BaseModel.objects.filter(enabled=True)
        if keys:
            bases = bases.filter(key__in=keys)
            missing = set(keys) - set(bases.values_list("key", flat=True))
            if missing:
                raise CommandError(f"unknown or disabled base models: {', '.join(sorted(missing))}")
        for base in bases:
            if not base.is_present:
                self.stdout.write(f"{base.key}: not downloaded, skipped")
                continue
            for row in calibration_measure(base, steps=steps):
                self.stdout.write(f"{base.key}: block {row.block_size} x batch {row.batch_size} on {row.device}: "
                                  f"{row.tokens_per_second:,.0f} tokens/s")
