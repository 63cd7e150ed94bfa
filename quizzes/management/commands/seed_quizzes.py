from pathlib import Path

from django.core.management.base import BaseCommand

from quizzes.seeding import SEED_DIR, quizzes_seed


class Command(BaseCommand):
    help = "Load the seeded quizzes (quizzes/seed/<lang>/*.json) without overwriting instructors' edits."

    def add_arguments(self, parser):
        parser.add_argument("--seed-dir", type=Path, default=SEED_DIR, help="Folder holding ja/ and en/ quiz files.")

    def handle(self, *args, seed_dir, **options):
        # A broken or orphan file is reported and skipped, never fatal: `make run` must still start.
        self.stdout.write(f"Quizzes: {quizzes_seed(seed_dir=seed_dir)}")
