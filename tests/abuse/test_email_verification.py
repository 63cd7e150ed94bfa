"""REQUIRE_VERIFIED_EMAIL: scripted accounts cannot queue runs until someone opens the link
e-mailed at sign-up. Off by default (a one-machine install may have no e-mail)."""
import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.urls import reverse

from llmschool.accounts import services as account_services
from llmschool.accounts.models import User
from tests.abuse.conftest import make_dataset, make_scratch_base
from tests.factories import PASSWORD, make_user
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def required(settings, media):
    settings.REQUIRE_VERIFIED_EMAIL = True
    make_scratch_base()
    return settings


def sign_up(client, username="hanako", language="en"):
    return client.post(reverse("signup"), {
        "username": username, "email": f"{username.title()}@Example.com", "preferred_language": language,
        "password1": PASSWORD, "password2": PASSWORD}, HTTP_ACCEPT_LANGUAGE=language, follow=True)


def the_link(message) -> str:
    return re.search(r"http://testserver(/accounts/verify/\S+/)", message.body).group(1)


def post_run(client, user):
    dataset = user.datasets.first() or make_dataset(user, name="mine")
    return client.post(reverse("training:run_new"), {"dataset": str(dataset.code), "base": "base:scratch-tiny",
                                                     "preset": "quick"})


def test_sign_up_sends_a_link_and_runs_wait_for_it(client, required):
    page = sign_up(client).content.decode()
    assert "We sent a link to hanako@example.com" in page
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["hanako@example.com"]
    user = User.objects.get(username="hanako")
    assert not user.email_verified
    make_dataset(user, name="mine")

    form_page = client.get(reverse("training:run_new")).content.decode()
    assert 'id="email-unverified"' in form_page and reverse("email_verify") in form_page
    response = post_run(client, user)
    assert response.status_code == 400
    assert "Confirm your e-mail address before queuing a run" in response.content.decode()
    assert not TrainingRun.objects.exists()

    confirmed = client.get(the_link(mail.outbox[0]), follow=True)
    assert "your e-mail address is confirmed" in confirmed.content.decode()
    user.refresh_from_db()
    assert user.email_verified
    assert 'id="email-unverified"' not in client.get(reverse("training:run_new")).content.decode()
    assert post_run(client, user).status_code == 302
    assert TrainingRun.objects.filter(owner=user).count() == 1


def test_the_e_mail_and_the_refusal_are_in_japanese(client, required):
    sign_up(client, language="ja")
    assert "メールアドレスの確認" in mail.outbox[0].subject
    response = post_run(client, User.objects.get(username="hanako"))
    assert "メールアドレスを確認" in response.content.decode()


def test_it_is_off_by_default(client, settings, media):
    make_scratch_base()
    assert settings.REQUIRE_VERIFIED_EMAIL is False
    sign_up(client)
    assert mail.outbox == []
    assert post_run(client, User.objects.get(username="hanako")).status_code == 302


def test_instructors_need_no_verification(client, required):
    carol = make_user("carol", instructor=True)
    assert not account_services.verification_required(carol)


def test_a_forged_expired_or_outdated_link_is_refused(client, required, monkeypatch):
    sign_up(client)
    user = User.objects.get(username="hanako")
    link = the_link(mail.outbox[0])
    assert client.get(link[:-3] + "xx/").status_code == 400
    # Bob's signature under a payload naming Hanako, and Hanako's payload signed without the
    # site's secret: both refused. (The payload is swapped whole: editing digits inside the
    # base64 text would forge nothing whenever the pk's digits do not happen to appear there.)
    bob = make_user("bob")
    _, bobs_timestamp, bobs_signature = account_services.email_verification_token(user=bob).rsplit(":", 2)
    hanakos_payload = account_services.email_verification_token(user=user).rsplit(":", 2)[0]
    for forged in (f"{hanakos_payload}:{bobs_timestamp}:{bobs_signature}",
                   signing.dumps({"user": user.pk, "email": user.email.lower()},
                                 salt=account_services.VERIFY_SALT, key="not-the-site-secret")):
        assert client.get(reverse("email_verify_confirm", args=[forged])).status_code == 400
    user.refresh_from_db()
    assert not user.email_verified

    monkeypatch.setattr(account_services, "VERIFY_MAX_AGE", timedelta(seconds=-1))
    assert client.get(link).status_code == 400
    monkeypatch.undo()

    # A changed address voids the old link and needs its own.
    client.post(reverse("profile"), {"email": "new@example.com", "preferred_language": "en"})
    assert client.get(link).status_code == 400
    user.refresh_from_db()
    assert not user.email_verified and len(mail.outbox) == 2 and mail.outbox[1].to == ["new@example.com"]
    assert client.get(the_link(mail.outbox[1])).status_code == 302
    user.refresh_from_db()
    assert user.email_verified


def test_a_changed_address_is_no_longer_verified(alice_client, alice, required):
    User.objects.filter(pk=alice.pk).update(email_verified=True)
    alice_client.post(reverse("profile"), {"email": "elsewhere@example.com", "preferred_language": "en"})
    alice.refresh_from_db()
    assert alice.email == "elsewhere@example.com" and not alice.email_verified


def test_the_page_resends_the_link_at_most_once_a_minute(client, required):
    sign_up(client)
    response = client.post(reverse("email_verify"), follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "Please wait" in response.content.decode() and len(mail.outbox) == 1
    User.objects.update(email_verification_sent_at=User.objects.get().email_verification_sent_at
                        - account_services.RESEND_COOLDOWN)
    response = client.post(reverse("email_verify"), follow=True)
    assert "We sent a link" in response.content.decode() and len(mail.outbox) == 2
    assert the_link(mail.outbox[1])
    page = client.get(reverse("email_verify")).content.decode()
    assert "is not confirmed yet" in page


def test_a_mail_server_failure_keeps_the_account(client, required, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(account_services, "send_mail", refuse)
    page = sign_up(client).content.decode()
    assert "could not be sent right now" in page
    assert User.objects.filter(username="hanako").exists()
