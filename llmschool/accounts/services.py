"""Account writes: sign-up (throttled per client address) and e-mail verification.

The client address is the login throttle's (axes, proxy-aware through PROXY_COUNT), so a
spoofed X-Forwarded-For counts for nothing unless a proxy is configured.
"""
import logging
import math
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

from llmschool.accounts.models import User

log = logging.getLogger(__name__)

VERIFY_SALT = "llmschool.accounts.verify-email"
VERIFY_MAX_AGE = timedelta(days=3)
RESEND_COOLDOWN = timedelta(seconds=60)


def client_address(request) -> str | None:
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


def signup_throttled(*, address: str | None, now=None) -> bool:
    """True when `address` already created SIGNUP_LIMIT_PER_ADDRESS accounts within the window.

    Counted from the accounts themselves (their signup_ip), so it holds across web processes
    and restarts with no cache to share."""
    limit = settings.SIGNUP_LIMIT_PER_ADDRESS
    if not limit or not address:
        return False
    since = (now or timezone.now()) - timedelta(minutes=settings.SIGNUP_WINDOW_MINUTES)
    return User.objects.filter(signup_ip=address, date_joined__gte=since).count() >= limit


def user_signup(*, form, address: str | None) -> User:
    user = form.save(commit=False)
    user.signup_ip = address
    user.save()
    return user


# E-mail verification ----------------------------------------------------------------------

def verification_required(user) -> bool:
    """Whether this user must verify their address before queuing a run (instructors never)."""
    return settings.REQUIRE_VERIFIED_EMAIL and not user.email_verified and not user.is_instructor


def email_verification_token(*, user: User) -> str:
    """A signed, expiring token for the user's current address (a changed address voids it)."""
    return signing.dumps({"user": user.pk, "email": user.email.lower()}, salt=VERIFY_SALT, compress=True)


def email_verification_confirm(*, token: str) -> User | None:
    """Mark the address verified; None when the token is forged, expired or for an old address."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None or not user.email or user.email.lower() != data.get("email"):
        return None
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    return user


def email_verification_wait(*, user: User, now=None) -> int:
    """Seconds before another link may be sent to this user (0: now)."""
    if user.email_verification_sent_at is None:
        return 0
    left = user.email_verification_sent_at + RESEND_COOLDOWN - (now or timezone.now())
    return max(0, math.ceil(left.total_seconds()))


def email_verification_send(*, user: User, link: str, now=None) -> bool:
    """E-mail the link in the user's language; False when the mail server refused it (the
    account is kept either way and the student can ask again from the verification page)."""
    context = {"user": user, "link": link, "days": VERIFY_MAX_AGE.days}
    with translation.override(user.preferred_language):
        subject = render_to_string("accounts/email/verify_subject.txt", context).strip()
        body = render_to_string("accounts/email/verify_body.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("could not send the verification e-mail to user %s: %s", user.pk, exc)
        return False
    user.email_verification_sent_at = now or timezone.now()
    user.save(update_fields=["email_verification_sent_at"])
    return True


def user_email_changed(*, user: User) -> None:
    """A new address is not verified yet."""
    user.email_verified = False
    user.save(update_fields=["email_verified"])
