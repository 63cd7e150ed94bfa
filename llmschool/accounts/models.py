from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

INSTRUCTORS_GROUP = "Instructors"


class User(AbstractUser):
    """A student by default; an instructor when staff and in the "Instructors" group."""

    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="ja"
    )
    email_verified = models.BooleanField(
        _("e-mail verified"), default=False,
        help_text=_("The student opened the link sent to this address (needed to queue runs when "
                    "REQUIRE_VERIFIED_EMAIL is on)."))
    email_verification_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    signup_ip = models.GenericIPAddressField(
        _("sign-up address"), null=True, blank=True, editable=False,
        help_text=_("The network address the account was created from (sign-up throttle, queue fairness)."))

    class Meta(AbstractUser.Meta):
        constraints = [
            # One account per address, whatever its case (the forms check it first, with a message).
            models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""), name="accounts_user_email_ci_unique",
                                    violation_error_message=_("An account with this e-mail address already exists.")),
        ]

    @property
    def is_instructor(self) -> bool:
        if self.is_superuser:
            return True
        return self.is_staff and self.groups.filter(name=INSTRUCTORS_GROUP).exists()

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
