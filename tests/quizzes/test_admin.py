"""Instructors edit questions and choices in the admin, validated, and see statistics."""
import pytest
from django.urls import reverse

from quizzes import services
from quizzes.models import Choice, Question
from quizzes.selectors import question_statistics, quiz_statistics
from tests.factories import make_user
from tests.quizzes.conftest import answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol_client(client, carol):
    client.force_login(carol)
    return client


def choice_formset(question, rows, kind=None):
    """POST data for the question change form: rows = [(text, correct, delete)] over existing then new choices."""
    existing = list(question.choices.order_by("order", "id"))
    data = {"quiz": question.quiz_id, "order": question.order, "kind": kind or question.kind, "text": question.text,
            "explanation": question.explanation,
            "choices-TOTAL_FORMS": len(rows), "choices-INITIAL_FORMS": len(existing),
            "choices-MIN_NUM_FORMS": 0, "choices-MAX_NUM_FORMS": 1000}
    for i, (text, correct, delete) in enumerate(rows):
        prefix = f"choices-{i}-"
        data.update({prefix + "text": text, prefix + "order": i + 1, prefix + "question": question.pk})
        if i < len(existing):
            data[prefix + "id"] = existing[i].pk
        if correct:
            data[prefix + "is_correct"] = "on"
        if delete:
            data[prefix + "DELETE"] = "on"
    return data


def post_question(client, question, rows, kind=None):
    url = reverse("admin:quizzes_question_change", args=[question.pk])
    return client.post(url, choice_formset(question, rows, kind))


def flags(question):
    return list(question.choices.order_by("order", "id").values_list("text", "is_correct"))


def test_single_choice_with_two_correct_choices_is_refused(carol_client, quiz):
    question = quiz.questions.get(order=1)
    before = flags(question)
    response = post_question(carol_client, question, [("Alpha", True, False), ("Bravo", True, False),
                                                      ("Charlie", False, False)])
    assert response.status_code == 200
    assert "exactly one correct choice" in response.content.decode() or "正解" in response.content.decode()
    assert flags(question) == before


def test_single_choice_without_a_correct_choice_is_refused(carol_client, quiz):
    question = quiz.questions.get(order=1)
    before = flags(question)
    rows = [("Alpha", False, False), ("Bravo", False, False), ("Charlie", False, False)]
    assert post_question(carol_client, question, rows).status_code == 200
    assert flags(question) == before


def test_deleting_the_only_correct_choice_is_refused(carol_client, quiz):
    question = quiz.questions.get(order=1)
    before = flags(question)
    rows = [("Alpha", False, False), ("Bravo", True, True), ("Charlie", False, False)]
    assert post_question(carol_client, question, rows).status_code == 200
    assert flags(question) == before


def test_multiple_choice_without_a_correct_choice_is_refused(carol_client, quiz):
    question = quiz.questions.get(order=2)
    before = flags(question)
    rows = [("Attention", False, False), ("MLP", False, False), ("Spreadsheet", False, False), ("Printer", False, False)]
    assert post_question(carol_client, question, rows).status_code == 200
    assert flags(question) == before


def test_switching_to_single_with_two_correct_choices_is_refused(carol_client, quiz):
    question = quiz.questions.get(order=2)
    rows = [("Attention", True, False), ("MLP", True, False), ("Spreadsheet", False, False), ("Printer", False, False)]
    assert post_question(carol_client, question, rows, kind="single").status_code == 200
    question.refresh_from_db()
    assert question.kind == "multiple"


def test_valid_edits_are_saved(carol_client, quiz):
    question = quiz.questions.get(order=2)
    rows = [("Attention", True, False), ("MLP", False, False), ("Spreadsheet", False, True), ("Printer", False, False),
            ("Embeddings", True, False)]
    response = post_question(carol_client, question, rows)
    assert response.status_code == 302
    assert flags(question) == [("Attention", True), ("MLP", False), ("Printer", False), ("Embeddings", True)]
    rows = [("Attention", True, False), ("MLP", False, False), ("Printer", False, False), ("Embeddings", False, False)]
    assert post_question(carol_client, question, rows, kind="single").status_code == 302
    question.refresh_from_db()
    assert question.kind == "single"


def quiz_inline_data(quiz, **changes):
    questions = list(quiz.questions.order_by("order", "id"))
    data = {"lesson": quiz.lesson_id, "title": quiz.title, "pass_mark": quiz.pass_mark, "published": "on",
            "questions-TOTAL_FORMS": len(questions), "questions-INITIAL_FORMS": len(questions),
            "questions-MIN_NUM_FORMS": 0, "questions-MAX_NUM_FORMS": 1000}
    for i, question in enumerate(questions):
        prefix = f"questions-{i}-"
        data.update({prefix + "id": question.pk, prefix + "quiz": quiz.pk, prefix + "order": question.order,
                     prefix + "kind": question.kind, prefix + "text": question.text,
                     prefix + "explanation": question.explanation})
    data.update(changes)
    return data


def test_quiz_inline_cannot_switch_a_question_to_a_kind_its_choices_break(carol_client, quiz):
    url = reverse("admin:quizzes_quiz_change", args=[quiz.pk])
    response = carol_client.post(url, quiz_inline_data(quiz, **{"questions-1-kind": "single"}))
    assert response.status_code == 200
    assert Question.objects.get(quiz=quiz, order=2).kind == "multiple"
    response = carol_client.post(url, quiz_inline_data(quiz, **{"questions-0-text": "Which token is next?"}))
    assert response.status_code == 302
    assert Question.objects.get(quiz=quiz, order=1).text == "Which token is next?"


def test_quiz_change_page_names_problems(carol_client, quiz):
    Choice.objects.filter(question__quiz=quiz, question__order=3).update(is_correct=False)
    page = carol_client.get(reverse("admin:quizzes_quiz_change", args=[quiz.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "quiz-problems" in page.content.decode()


def test_students_cannot_open_the_admin(alice_client, quiz):
    response = alice_client.get(reverse("admin:quizzes_quiz_statistics", args=[quiz.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def take(student, quiz, right):
    attempt = services.attempt_start(student=student, quiz=quiz)
    return services.attempt_submit(attempt=attempt, selections=answers(quiz, right=right))


def test_statistics_numbers_and_weakest_first(quiz, alice, bob):
    dave = make_user("dave")
    take(alice, quiz, {1, 2, 3})  # 100%, passes
    take(bob, quiz, {1, 3})       # 66%, fails
    take(bob, quiz, {1, 2, 3})    # retake: passes
    take(dave, quiz, {1})         # 33%, fails
    services.attempt_start(student=dave, quiz=quiz)  # an open attempt counts nowhere

    stats = quiz_statistics(quiz)
    assert (stats.attempts, stats.students, stats.passed_attempts, stats.students_passed) == (4, 3, 2, 2)
    assert stats.pass_rate == 0.5 and stats.average_score == (100 + 66 + 100 + 33) / 4
    by_number = {q.number: q for q in stats.questions}
    assert [(by_number[n].answered, by_number[n].correct) for n in (1, 2, 3)] == [(4, 4), (4, 2), (4, 3)]
    assert [q.number for q in stats.questions] == [2, 3, 1]  # weakest first
    second = by_number[2]
    picked = {c.text: c.picked for c in second.choices}
    assert picked == {"Attention": 2, "MLP": 2, "Spreadsheet": 2, "Printer": 0}
    assert {c.text: c.share for c in second.choices}["Spreadsheet"] == 0.5


def test_statistics_of_an_untaken_quiz(quiz):
    stats = quiz_statistics(quiz)
    assert stats.attempts == 0 and stats.pass_rate is None and stats.average_score is None
    assert all(q.answered == 0 and q.share_correct is None for q in question_statistics(quiz))


def test_statistics_page_and_changelists_show_the_numbers(carol_client, quiz, alice, bob):
    take(alice, quiz, {1, 2, 3})
    take(bob, quiz, {1})
    page = carol_client.get(reverse("admin:quizzes_quiz_statistics", args=[quiz.pk])).content.decode()
    assert "Which are parts of a Transformer?" in page
    assert "50%" in page  # the pass rate and question 2's and 3's share answered correctly
    assert page.index("Which are parts of a Transformer?") < page.index("Which token comes next?")

    changelist = carol_client.get(reverse("admin:quizzes_quiz_changelist")).content.decode()
    assert quiz.title in changelist and reverse("admin:quizzes_quiz_statistics", args=[quiz.pk]) in changelist
    assert "50%" in changelist and "66%" in changelist  # pass rate, average score (100 + 33) / 2 = 66.5

    questions = carol_client.get(reverse("admin:quizzes_question_changelist") + "?o=6").content.decode()
    assert questions.index("Which token comes next?") > questions.index("What does softmax output?")
    assert "100%" in questions and "50%" in questions


def test_attempts_are_read_only_in_the_admin(carol_client, quiz, alice):
    attempt = take(alice, quiz, {1})
    assert carol_client.get(reverse("admin:quizzes_attempt_changelist")).status_code == 200
    assert carol_client.get(reverse("admin:quizzes_attempt_add")).status_code == 403
    response = carol_client.post(reverse("admin:quizzes_attempt_change", args=[attempt.pk]), {"score": 100})
    assert response.status_code == 403
    attempt.refresh_from_db()
    assert attempt.score == 33


def test_admin_pages_render_for_an_instructor(carol_client, quiz, alice):
    take(alice, quiz, {1})
    question = quiz.questions.first()
    for url in (reverse("admin:quizzes_quiz_add"), reverse("admin:quizzes_question_add"),
                reverse("admin:quizzes_quiz_change", args=[quiz.pk]),
                reverse("admin:quizzes_question_change", args=[question.pk]),
                reverse("admin:quizzes_question_changelist") + "?o=5",
                reverse("admin:quizzes_quiz_changelist") + "?o=7"):
        assert carol_client.get(url).status_code == 200, url
