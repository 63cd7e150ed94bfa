"""A student's journey through the pages: list, intro, take, submit, result, retake, dashboard."""
import re

import pytest
from django.urls import reverse

from quizzes.models import Attempt
from tests.factories import make_lesson, make_quiz
from tests.quizzes.conftest import speak, answers, as_post

pytestmark = pytest.mark.django_db


def start(client, quiz) -> Attempt:
    response = client.post(reverse("quizzes:attempt_start", args=[quiz.pk]))
    attempt = Attempt.objects.latest("started_at")
    assert response.status_code == 302 and response["Location"] == reverse("quizzes:attempt_take", args=[attempt.code])
    return attempt


def test_pages_need_a_login(client, quiz):
    for url in (reverse("quizzes:list"), reverse("quizzes:detail", args=[quiz.pk])):
        assert client.get(url).status_code == 302
    assert client.post(reverse("quizzes:attempt_start", args=[quiz.pk])).status_code == 302
    assert not Attempt.objects.exists()


def test_list_shows_each_quiz_with_its_status(alice_client, alice, quiz):
    other = make_quiz(make_lesson("02-next"))
    make_quiz(make_lesson("03-hidden"), published=False)
    page = alice_client.get(reverse("quizzes:list")).content.decode()
    assert quiz.title in page and other.title in page and "Quiz on Lesson 03-hidden" not in page
    assert "Not taken" in page or "未受験" in page


def test_fail_read_explanations_retake_and_pass(alice_client, alice, quiz):
    speak(alice, "en")
    attempt = start(alice_client, quiz)
    page = alice_client.get(reverse("quizzes:attempt_take", args=[attempt.code])).content.decode()
    assert "Which token comes next?" in page and "Submit my answers" in page

    response = alice_client.post(reverse("quizzes:attempt_submit", args=[attempt.code]), as_post(answers(quiz, right={1})))
    assert response.status_code == 302 and response["Location"] == reverse("quizzes:attempt_result", args=[attempt.code])
    result = alice_client.get(response["Location"]).content.decode()
    assert "33<span>%</span>" in result and "Not passed" in result
    assert "EXPLAIN-ONE" in result and "EXPLAIN-TWO" in result and "EXPLAIN-THREE" in result
    assert result.count("Correct answer") == 4  # Bravo, Attention, MLP, Probabilities
    assert "Retake the quiz" in result

    retake = start(alice_client, quiz)
    assert retake.pk != attempt.pk
    alice_client.post(reverse("quizzes:attempt_submit", args=[retake.code]), as_post(answers(quiz, right={1, 2, 3})))
    result = alice_client.get(reverse("quizzes:attempt_result", args=[retake.code])).content.decode()
    assert "100<span>%</span>" in result and "you passed" in result
    assert "Best 100% · latest 100%" in result

    detail = alice_client.get(reverse("quizzes:detail", args=[quiz.pk])).content.decode()
    assert detail.count(reverse("quizzes:attempt_result", args=[attempt.code])) == 1
    assert detail.count(reverse("quizzes:attempt_result", args=[retake.code])) == 1


def test_take_page_of_a_submitted_attempt_goes_to_the_result(alice_client, alice, quiz):
    attempt = start(alice_client, quiz)
    alice_client.post(reverse("quizzes:attempt_submit", args=[attempt.code]), as_post(answers(quiz)))
    response = alice_client.get(reverse("quizzes:attempt_take", args=[attempt.code]))
    assert response["Location"] == reverse("quizzes:attempt_result", args=[attempt.code])


def test_result_of_an_open_attempt_goes_to_the_form(alice_client, alice, quiz):
    attempt = start(alice_client, quiz)
    response = alice_client.get(reverse("quizzes:attempt_result", args=[attempt.code]))
    assert response["Location"] == reverse("quizzes:attempt_take", args=[attempt.code])


def test_take_page_shows_choices_in_the_attempts_order(alice_client, alice, quiz):
    attempt = start(alice_client, quiz)
    page = alice_client.get(reverse("quizzes:attempt_take", args=[attempt.code])).content.decode()
    for question in quiz.questions.all():
        shown = [int(v) for v in re.findall(rf'name="q{question.id}" value="(\d+)"', page)]
        assert shown == attempt.choice_order[str(question.id)]


def test_quiz_without_questions_cannot_be_started(alice_client, alice, lesson):
    quiz = make_quiz(lesson, questions=[])
    response = alice_client.post(reverse("quizzes:attempt_start", args=[quiz.pk]), follow=True)
    assert not Attempt.objects.exists()
    assert response.redirect_chain[-1][0] == reverse("quizzes:detail", args=[quiz.pk])


def test_lesson_page_box_and_dashboard_show_the_status(alice_client, alice, quiz):
    speak(alice, "en")
    lesson_page = alice_client.get(quiz.lesson.get_absolute_url()).content.decode()
    assert quiz.title in lesson_page and "Start the quiz" in lesson_page and "Not taken" in lesson_page

    attempt = start(alice_client, quiz)
    alice_client.post(reverse("quizzes:attempt_submit", args=[attempt.code]), as_post(answers(quiz, right={1, 2, 3})))
    lesson_page = alice_client.get(quiz.lesson.get_absolute_url()).content.decode()
    assert "Retake the quiz" in lesson_page and "Best 100% · latest 100%" in lesson_page

    dashboard = alice_client.get(reverse("dashboard")).content.decode()
    panel = dashboard.split('class="quiz-dashboard"', 1)[1]
    assert quiz.lesson.title in panel and "Passed" in panel and "best 100%" in panel


def test_lesson_box_for_a_visitor_asks_to_log_in(client, quiz):
    page = client.get(quiz.lesson.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Log in to take the quiz" in page and reverse("quizzes:attempt_start", args=[quiz.pk]) not in page


def test_lesson_without_a_quiz_has_no_box(alice_client, lesson):
    page = alice_client.get(lesson.get_absolute_url()).content.decode()
    assert "quiz-box" not in page


def test_pages_render_in_japanese(alice_client, alice, quiz):
    attempt = start(alice_client, quiz)
    page = alice_client.get(reverse("quizzes:attempt_take", args=[attempt.code])).content.decode()
    assert '<html lang="ja">' in page and "回答を送信する" in page


def test_detail_says_an_open_attempt_is_not_submitted_yet(alice_client, alice, quiz):
    detail = reverse("quizzes:detail", args=[quiz.pk])
    assert "まだ受けていません" in alice_client.get(detail).content.decode()
    start(alice_client, quiz)
    page = alice_client.get(detail).content.decode()
    assert "まだ解答を送信していません" in page and "まだ受けていません" not in page
