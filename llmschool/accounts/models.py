from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

INSTRUCTORS_GROUP = "Instructors"


class User(AbstractUser):
    """A student by default; an instructor when staff and in the "Instructors" group."""

    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="ja"
    )

    @property
    def is_instructor(self) -> bool:
        if self.is_superuser:
            return True
        return self.is_staff and self.groups.filter(name=INSTRUCTORS_GROUP).exists()

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
