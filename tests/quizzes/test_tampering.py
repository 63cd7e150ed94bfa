"""Bad input is refused cleanly and changes nothing in the database."""
import pytest
from django.test import Client
from django.urls import reverse

from quizzes import services
from quizzes.models import Attempt, Choice
from tests.factories import make_lesson, make_quiz
from tests.quizzes.conftest import speak, answers, as_post, db_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def attempt(alice, quiz):
    return services.attempt_start(student=alice, quiz=quiz)


def submit_url(attempt):
    return reverse("quizzes:attempt_submit", args=[attempt.code])


def test_a_choice_from_another_question_is_refused(alice_client, quiz, attempt):
    selections = answers(quiz, right={1, 2, 3})
    first, second = quiz.questions.all()[:2]
    selections[first.id] = [second.choices.filter(is_correct=True).first().id]
    before = db_snapshot()
    response = alice_client.post(submit_url(attempt), as_post(selections))
    assert response.status_code == 400
    assert db_snapshot() == before
    with pytest.raises(services.InvalidAnswers):
        services.attempt_submit(attempt=attempt, selections=selections)
    assert db_snapshot() == before


def test_a_choice_from_another_quiz_is_refused(alice_client, quiz, attempt):
    other = make_quiz(make_lesson("02-other"))
    selections = answers(quiz, right={1, 2, 3})
    selections[quiz.questions.first().id] = [Choice.objects.filter(question__quiz=other, is_correct=True).first().id]
    before = db_snapshot()
    assert alice_client.post(submit_url(attempt), as_post(selections)).status_code == 400
    assert db_snapshot() == before


@pytest.mark.parametrize("value", ["abc", "", "-1", "1e3", "99999999999999999999"])
def test_garbage_values_are_refused(alice_client, quiz, attempt, value):
    data = as_post(answers(quiz, right={1, 2, 3}))
    data[f"q{quiz.questions.first().id}"] = [value]
    before = db_snapshot()
    assert alice_client.post(submit_url(attempt), data).status_code in (200, 400)
    assert db_snapshot() == before
    assert Attempt.objects.get(pk=attempt.pk).submitted_at is None


def test_two_answers_to_a_single_choice_question_are_refused(alice_client, quiz, attempt):
    first = quiz.questions.first()
    selections = answers(quiz, right={1, 2, 3})
    selections[first.id] = list(first.choices.values_list("id", flat=True))
    before = db_snapshot()
    assert alice_client.post(submit_url(attempt), as_post(selections)).status_code == 400
    assert db_snapshot() == before
    with pytest.raises(services.InvalidAnswers):
        services.attempt_submit(attempt=attempt, selections=selections)


def test_a_missing_answer_shows_the_form_again_with_selections_kept(alice_client, alice, quiz, attempt):
    speak(alice, "en")
    selections = answers(quiz, right={1, 2, 3})
    missing = quiz.questions.get(order=3)
    del selections[missing.id]
    before = db_snapshot()
    response = alice_client.post(submit_url(attempt), as_post(selections))
    assert response.status_code == 200
    page = response.content.decode()
    assert db_snapshot() == before
    assert "Please answer this question." in page and "Still open: 3." in page
    for question_id, choice_ids in selections.items():
        for choice_id in choice_ids:
            assert f'name="q{question_id}" value="{choice_id}" id=' in page
            tag = page.split(f'name="q{question_id}" value="{choice_id}"', 1)[1].split(">", 1)[0]
            assert "checked" in tag
    assert "checked" not in "".join(page.split(f'name="q{missing.id}"')[1:]).split("</ul>", 1)[0]
    with pytest.raises(services.InvalidAnswers):
        services.attempt_submit(attempt=attempt, selections=selections)
    assert db_snapshot() == before


def test_an_empty_submission_changes_nothing(alice_client, attempt):
    before = db_snapshot()
    assert alice_client.post(submit_url(attempt), {}).status_code == 200
    assert db_snapshot() == before


def test_a_second_submission_changes_nothing(alice_client, quiz, attempt):
    alice_client.post(submit_url(attempt), as_post(answers(quiz, right={1})))
    before = db_snapshot()
    response = alice_client.post(submit_url(attempt), as_post(answers(quiz, right={1, 2, 3})))
    assert response.status_code == 302 and response["Location"] == reverse("quizzes:attempt_result", args=[attempt.code])
    assert db_snapshot() == before
    assert Attempt.objects.get(pk=attempt.pk).score == 33


def test_a_replay_with_a_stale_attempt_changes_nothing(alice, quiz, attempt):
    """Two requests that both loaded the attempt before either submitted (double click):
    the conditional update lets exactly one of them through."""
    stale = Attempt.objects.get(pk=attempt.pk)
    services.attempt_submit(attempt=attempt, selections=answers(quiz, right={1}))
    before = db_snapshot()
    assert stale.submitted_at is None
    with pytest.raises(services.AlreadySubmitted):
        services.attempt_submit(attempt=stale, selections=answers(quiz, right={1, 2, 3}))
    assert db_snapshot() == before


def test_someone_elses_attempt_is_a_404(client, bob, quiz, attempt):
    client.force_login(bob)
    before = db_snapshot()
    for name in ("quizzes:attempt_take", "quizzes:attempt_result"):
        assert client.get(reverse(name, args=[attempt.code])).status_code == 404
    assert client.post(submit_url(attempt), as_post(answers(quiz, right={1, 2, 3}))).status_code == 404
    assert db_snapshot() == before


def test_a_submitted_attempt_of_someone_else_is_a_404(client, alice, bob, quiz, attempt):
    services.attempt_submit(attempt=attempt, selections=answers(quiz, right={1, 2, 3}))
    client.force_login(bob)
    assert client.get(reverse("quizzes:attempt_result", args=[attempt.code])).status_code == 404


def test_an_unknown_attempt_is_a_404(alice_client):
    url = reverse("quizzes:attempt_take", args=["00000000-0000-0000-0000-000000000000"])
    assert alice_client.get(url).status_code == 404
    assert alice_client.get("/quizzes/attempts/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("hide", ["quiz", "lesson", "course"])
def test_an_unpublished_quiz_is_a_404_everywhere(alice_client, quiz, attempt, hide):
    target = {"quiz": quiz, "lesson": quiz.lesson, "course": quiz.lesson.course}[hide]
    target.published = False
    target.save()
    before = db_snapshot()
    assert alice_client.get(reverse("quizzes:detail", args=[quiz.pk])).status_code == 404
    assert alice_client.post(reverse("quizzes:attempt_start", args=[quiz.pk])).status_code == 404
    assert alice_client.get(reverse("quizzes:attempt_take", args=[attempt.code])).status_code == 404
    assert alice_client.post(submit_url(attempt), as_post(answers(quiz, right={1, 2, 3}))).status_code == 404
    assert db_snapshot() == before


def test_missing_csrf_token_is_a_403(alice, quiz, attempt):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = db_snapshot()
    assert client.post(submit_url(attempt), as_post(answers(quiz, right={1, 2, 3}))).status_code == 403
    assert client.post(reverse("quizzes:attempt_start", args=[quiz.pk])).status_code == 403
    assert db_snapshot() == before


def test_get_on_post_only_views_is_refused(alice_client, quiz, attempt):
    before = db_snapshot()
    assert alice_client.get(submit_url(attempt)).status_code == 405
    assert alice_client.get(reverse("quizzes:attempt_start", args=[quiz.pk])).status_code == 405
    assert db_snapshot() == before
