from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.seeding import SEED_DIR, SeedError, courses_seed


class Command(BaseCommand):
    help = "Load the seeded course (courses/seed/<lang>/*.md) without overwriting instructors' edits."

    def add_arguments(self, parser):
        parser.add_argument("--seed-dir", type=Path, default=SEED_DIR, help="Folder holding ja/ and en/ lesson files.")

    def handle(self, *args, seed_dir, **options):
        try:
            report = courses_seed(seed_dir=seed_dir)
        except SeedError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Courses: {report}")
