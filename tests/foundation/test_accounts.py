import pytest
from django.core import mail
from django.urls import reverse

from llmschool.accounts.models import User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_it_signs_up_and_logs_in_a_student(client):
    response = client.post(reverse("signup"), {
        "username": "hanako", "email": "Hanako@Example.com", "preferred_language": "en",
        "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 302
    user = User.objects.get(username="hanako")
    assert user.email == "hanako@example.com"
    assert not user.is_staff and not user.is_instructor
    assert client.get(reverse("profile")).status_code == 200


def test_it_refuses_a_duplicate_email(client, alice):
    response = client.post(reverse("signup"), {
        "username": "other", "email": "ALICE@example.com", "preferred_language": "ja",
        "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 200
    assert not User.objects.filter(username="other").exists()


def test_it_logs_in_and_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("profile")).status_code == 302


def test_profile_saves_the_preferred_language_and_the_site_follows_it(alice_client, alice):
    response = alice_client.post(reverse("profile"), {
        "first_name": "Alice", "last_name": "", "email": "alice@example.com", "preferred_language": "en"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.preferred_language == "en"
    page = alice_client.get(reverse("profile")).content.decode()
    assert "Your profile" in page and 'lang="en"' in page


def test_language_switcher_saves_the_choice_on_the_profile(alice_client, alice):
    alice_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    alice.refresh_from_db()
    assert alice.preferred_language == "en"


def test_password_reset_sends_a_link(client, alice):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_password_change(alice_client, alice):
    response = alice_client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "another-long-pass-9", "new_password2": "another-long-pass-9"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another-long-pass-9")


def test_instructors_can_edit_courses_quizzes_and_training_but_not_users(carol):
    assert carol.is_instructor and carol.is_staff and not carol.is_superuser
    assert carol.has_module_perms("courses")
    assert carol.has_module_perms("quizzes")
    assert carol.has_module_perms("training")
    assert not carol.has_perm("accounts.change_user")
    assert not carol.has_perm("accounts.view_user")


def test_instructor_gets_the_admin_but_not_the_user_admin(client, carol):
    client.force_login(carol)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 403


def test_students_do_not_get_the_admin(alice_client):
    response = alice_client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_demo_accounts_are_idempotent(db):
    from django.core.management import call_command

    call_command("create_demo_accounts")
    call_command("create_demo_accounts")
    assert User.objects.filter(username__in=["student", "instructor"]).count() == 2
    assert User.objects.get(username="instructor").is_instructor
    assert not User.objects.get(username="student").is_instructor
    assert User.objects.get(username="student").check_password("student-pass-2026")


class TestLoginThrottle:
    def _attempt(self, client, username, password, ip):
        return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)

    def test_it_locks_a_guessed_account_but_not_classmates_behind_the_same_address(self, client, settings):
        make_user("target")
        make_user("classmate")
        shared_ip = "203.0.113.7"
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self._attempt(client, "target", "wrong-guess", shared_ip)
        locked = self._attempt(client, "target", PASSWORD, shared_ip)
        assert locked.status_code == 429
        assert "Too many failed" in locked.content.decode() or "ログインの失敗" in locked.content.decode()
        ok = self._attempt(client, "classmate", PASSWORD, shared_ip)
        assert ok.status_code == 302
