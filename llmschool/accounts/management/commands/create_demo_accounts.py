from django.core.management.base import BaseCommand

from llmschool.accounts.models import User
from llmschool.accounts.roles import user_make_instructor

DEMO_ACCOUNTS = [
    # username, password, instructor?
    ("student", "student-pass-2026", False),
    ("instructor", "instructor-pass-2026", True),
]


class Command(BaseCommand):
    help = "Create the demo student and instructor (idempotent) and print their logins."

    def handle(self, *args, **options):
        for username, password, instructor in DEMO_ACCOUNTS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            if created:
                user.set_password(password)
                user.save()
            if instructor:
                user_make_instructor(user=user)
            role = "instructor" if instructor else "student"
            self.stdout.write(f"  demo {role:10s}  username: {username:10s}  password: {password}")
