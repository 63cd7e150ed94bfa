from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from llmschool.accounts.roles import instructors_group_sync

# Each app ships its own idempotent seed command; they run in this order because
# quizzes hang off lessons and training samples are independent; the demo model run
# (seed_demo_model, off when DEMO_MODEL_SEED is) needs the tiny base seed_training creates.
SEED_COMMANDS = ("seed_courses", "seed_quizzes", "seed_training", "seed_demo_model")


class Command(BaseCommand):
    help = "Set up a fresh or existing site: roles, seed content (never overwriting edits), demo accounts."

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="Do not create demo accounts.")

    def handle(self, *args, no_demo=False, **options):
        instructors_group_sync()
        available = get_commands()
        for name in SEED_COMMANDS:
            if name in available:
                call_command(name, stdout=self.stdout)
        if not no_demo:
            call_command("create_demo_accounts", stdout=self.stdout)
