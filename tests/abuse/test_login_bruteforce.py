"""Password guessing, beyond the basic lockout in tests/foundation/test_accounts.py: spoofed
proxy headers, the admin login, the cool-off, reset on success, and password spraying
from one classroom address that must not lock the class out."""
from datetime import timedelta

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db
CLASSROOM = "198.51.100.20"


def attempt(client, username, password, ip=CLASSROOM, path=None, **headers):
    return client.post(path or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip,
                       **headers)


def lock(client, settings, username, ip=CLASSROOM, **headers):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, username, "wrong-guess", ip, **headers)


def test_rotating_x_forwarded_for_does_not_dodge_the_lockout(client, settings):
    """Without a configured proxy the header is the attacker's to write: it must be ignored."""
    make_user("target")
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "target", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
    response = attempt(client, "target", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert response.status_code == 429


def test_the_correct_password_does_not_open_a_locked_account_nor_say_so(client, settings):
    make_user("target")
    lock(client, settings, "target")
    right = attempt(client, "target", PASSWORD)
    wrong = attempt(client, "target", "another-wrong")
    assert right.status_code == wrong.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_admin_login_is_throttled_too(client, settings):
    make_user("teacher", instructor=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "teacher", "wrong", path="/admin/login/")
    assert attempt(client, "teacher", PASSWORD, path="/admin/login/").status_code == 429


def test_password_spraying_from_a_classroom_does_not_lock_the_class(client, settings):
    """One student tries a few passwords on every classmate's name; everyone can still log in."""
    classmates = [make_user(f"student{i}") for i in range(8)]
    for user in classmates:
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            attempt(client, user.username, "password123")
    for user in classmates:
        fresh = client.__class__()
        assert attempt(fresh, user.username, PASSWORD).status_code == 302, user.username


def test_the_lockout_ends_after_the_cool_off(client, settings):
    from axes.models import AccessAttempt

    make_user("target")
    lock(client, settings, "target")
    assert attempt(client, "target", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time
                                 - timedelta(hours=settings.AXES_COOLOFF_TIME) - timedelta(minutes=1))
    assert attempt(client, "target", PASSWORD).status_code == 302


def test_a_successful_login_resets_the_count(client, settings):
    make_user("forgetful")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "forgetful", "typo")
    assert attempt(client, "forgetful", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "forgetful", "typo")
    assert attempt(client, "forgetful", PASSWORD).status_code == 302


def test_the_same_account_from_another_address_is_not_locked(client, settings):
    """The lockout is per (username, address): a student at home is not locked by a guesser at school.
    (The price: a guesser with many addresses gets LOGIN_FAILURE_LIMIT guesses per address.)"""
    make_user("target")
    lock(client, settings, "target", ip=CLASSROOM)
    assert attempt(client.__class__(), "target", PASSWORD, ip="192.0.2.55").status_code == 302
