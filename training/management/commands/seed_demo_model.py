"""Queue, once, the run that becomes the site's demo model (training/demo.py); `bootstrap` runs this."""
from django.core.management.base import BaseCommand

from training.demo import demo_model_queue

MESSAGES = {
    "disabled": "seed_demo_model: skipped (DEMO_MODEL_SEED is off).",
    "exists": "seed_demo_model: the site has a demo model.",
    "training": "seed_demo_model: the demo model run is already queued or training.",
    "adopted": "seed_demo_model: the finished demo run is the demo model now.",
    "no_user": "seed_demo_model: a person's account holds the demo account's name (site-demo); nothing queued.",
    "no_base": "seed_demo_model: no enabled \"tiny\" from-scratch base model (run seed_training first).",
    "no_corpus": "seed_demo_model: the sample corpora could not be checked; nothing queued.",
    "queued": "seed_demo_model: queued a ~1-minute from-scratch run on the sample corpora; it becomes the demo "
              "model when it succeeds (the training worker of `make run` trains it).",
}


class Command(BaseCommand):
    help = "Queue, once, a quick from-scratch run on the sample corpora that becomes the site's demo model."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Queue it even when DEMO_MODEL_SEED is off.")

    def handle(self, *args, force=False, **options):
        self.stdout.write(MESSAGES[demo_model_queue(force=force)])
