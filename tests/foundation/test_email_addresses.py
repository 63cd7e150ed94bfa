"""One account per e-mail address, whatever its case: at sign-up, on the profile (with a
message) and in the database (a constraint on lower(email))."""
import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from llmschool.accounts.models import User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def profile_post(client, email, language="en"):
    return client.post(reverse("profile"), {"first_name": "", "last_name": "", "email": email,
                                            "preferred_language": language}, HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.parametrize("taken", ["bob@example.com", "BOB@Example.COM", "  Bob@example.com "])
def test_the_profile_refuses_another_accounts_address(alice_client, alice, bob, taken):
    User.objects.filter(pk=alice.pk).update(preferred_language="en")
    response = profile_post(alice_client, taken)
    assert response.status_code == 200
    assert "An account with this e-mail address already exists." in response.content.decode()
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_the_refusal_is_in_japanese_too(alice_client, alice, bob):
    response = profile_post(alice_client, "BOB@example.com", language="ja")
    assert "このメールアドレスのアカウントはすでに登録されています" in response.content.decode()


def test_the_profile_keeps_the_own_address_in_another_case(alice_client, alice):
    assert profile_post(alice_client, "Alice@Example.com").status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_the_profile_needs_an_address(alice_client, alice):
    assert profile_post(alice_client, "").status_code == 200
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_sign_up_refuses_an_address_taken_in_another_case(client, alice):
    response = client.post(reverse("signup"), {
        "username": "copy", "email": "ALICE@EXAMPLE.COM", "preferred_language": "en",
        "password1": PASSWORD, "password2": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    assert "An account with this e-mail address already exists." in response.content.decode()
    assert not User.objects.filter(username="copy").exists()


def test_the_database_refuses_a_case_variant_but_allows_many_blank_addresses(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="sneaky", email="ALICE@example.com", password=PASSWORD)
    User.objects.create_user(username="nomail1", email="", password=PASSWORD)
    User.objects.create_user(username="nomail2", email="", password=PASSWORD)


def test_the_user_admin_refuses_a_case_variant_with_the_message(client, alice, bob):
    boss = make_user("boss", is_staff=True, is_superuser=True, preferred_language="en")
    client.force_login(boss)
    data = {"username": "bob", "email": "ALICE@example.com", "preferred_language": "en", "is_active": "on",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00"}
    response = client.post(reverse("admin:accounts_user_change", args=[bob.pk]), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "An account with this e-mail address already exists." in response.content.decode()
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"
