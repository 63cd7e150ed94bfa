"""Instructors: staff users in the "Instructors" group with admin rights on the course,
quiz and training apps, and none on user accounts."""
from django.contrib.auth.models import Group, Permission

from llmschool.accounts.models import INSTRUCTORS_GROUP

INSTRUCTOR_APPS = ("courses", "quizzes", "training")


def instructors_group_sync() -> Group:
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
    permissions = Permission.objects.filter(content_type__app_label__in=INSTRUCTOR_APPS)
    group.permissions.set(permissions)
    return group


def user_make_instructor(*, user) -> None:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(instructors_group_sync())
