"""Scripted sign-ups: a client address may create only so many accounts in a while (the login
throttle's proxy-aware address), with a clear message and 429; other addresses are not affected."""
from datetime import timedelta

import pytest
from django.urls import reverse

from llmschool.accounts.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
SCRIPT = "203.0.113.7"


def sign_up(client, number, ip=SCRIPT, language="en", **headers):
    return client.post(reverse("signup"), {
        "username": f"bot{number}", "email": f"bot{number}@example.com", "preferred_language": language,
        "password1": PASSWORD, "password2": PASSWORD}, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=language, **headers)


def test_the_address_is_refused_after_the_limit_with_a_message(client, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 3
    for number in range(3):
        assert sign_up(client.__class__(), number).status_code == 302
    response = sign_up(client, 99)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many accounts were created from your network recently" in page
    assert 'value="bot99"' in page and PASSWORD not in page  # what was typed stays, not the password
    assert not User.objects.filter(username="bot99").exists()
    assert set(User.objects.values_list("signup_ip", flat=True)) == {SCRIPT}


def test_the_message_is_in_japanese_too(client, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 1
    sign_up(client.__class__(), 1)
    response = sign_up(client, 2, language="ja")
    assert response.status_code == 429
    assert "お使いのネットワークから" in response.content.decode()


def test_another_address_can_still_sign_up(client, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 2
    for number in range(3):
        sign_up(client.__class__(), number)
    assert sign_up(client, 50, ip="198.51.100.9").status_code == 302


def test_a_forged_x_forwarded_for_does_not_dodge_the_limit(client, settings):
    """No proxy is configured (PROXY_COUNT): the header is the script's to write and is ignored."""
    settings.SIGNUP_LIMIT_PER_ADDRESS = 2
    for number in range(2):
        sign_up(client.__class__(), number, HTTP_X_FORWARDED_FOR=f"10.1.1.{number}")
    assert sign_up(client, 9, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_the_limit_ends_with_its_window(client, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 2
    for number in range(2):
        sign_up(client.__class__(), number)
    assert sign_up(client.__class__(), 3).status_code == 429
    User.objects.update(date_joined=User.objects.first().date_joined
                        - timedelta(minutes=settings.SIGNUP_WINDOW_MINUTES + 1))
    assert sign_up(client, 4).status_code == 302


def test_fifty_one_scripted_sign_ups_stop_at_the_default_limit(client, settings):
    limit = settings.SIGNUP_LIMIT_PER_ADDRESS
    answers = [sign_up(client.__class__(), number).status_code for number in range(51)]
    assert answers == [302] * limit + [429] * (51 - limit)
    assert User.objects.count() == limit
