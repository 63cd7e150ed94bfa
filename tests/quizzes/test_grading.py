"""Grading on the server: single = the correct choice, multiple = exactly the correct set."""
import pytest

from quizzes import services
from quizzes.models import Answer, Attempt
from quizzes.selectors import questions_for_attempt, quiz_status_for_user
from tests.factories import make_quiz
from tests.quizzes.conftest import answers

pytestmark = pytest.mark.django_db


def submit(alice, quiz, selections):
    attempt = services.attempt_start(student=alice, quiz=quiz)
    return services.attempt_submit(attempt=attempt, selections=selections)


def test_all_right_scores_100_and_passes(alice, quiz):
    attempt = submit(alice, quiz, answers(quiz, right={1, 2, 3}))
    assert (attempt.score, attempt.passed, attempt.correct_count, attempt.question_count) == (100, True, 3, 3)
    assert list(attempt.answers.order_by("question__order").values_list("is_correct", flat=True)) == [True] * 3


def test_single_choice_wrong_answer_is_wrong(alice, quiz):
    attempt = submit(alice, quiz, answers(quiz, right={2, 3}))
    first = attempt.answers.get(question__order=1)
    assert not first.is_correct
    assert attempt.correct_count == 2 and attempt.score == 66 and not attempt.passed


def test_multiple_choice_partial_answer_is_wrong(alice, quiz):
    attempt = submit(alice, quiz, answers(quiz, right={1, 3}, partial={2}))
    assert not attempt.answers.get(question__order=2).is_correct
    assert attempt.correct_count == 2


def test_multiple_choice_superset_is_wrong(alice, quiz):
    selections = answers(quiz, right={1, 2, 3})
    second = quiz.questions.get(order=2)
    selections[second.id] = [c.id for c in second.choices.all()]  # every choice, wrong ones included
    attempt = submit(alice, quiz, selections)
    assert not attempt.answers.get(question=second).is_correct
    assert attempt.score == 66


def test_selected_choices_are_recorded(alice, quiz):
    selections = answers(quiz, right={2})
    attempt = submit(alice, quiz, selections)
    for answer in Answer.objects.filter(attempt=attempt):
        assert sorted(answer.selected.values_list("id", flat=True)) == sorted(selections[answer.question_id])


def test_score_is_rounded_down_and_pass_is_exact(alice, db):
    from tests.factories import QUESTIONS

    quiz = make_quiz(questions=QUESTIONS * 2, pass_mark=67)  # six questions
    attempt = submit(alice, quiz, answers(quiz, right={1, 2, 3, 4}))  # 4/6 = 66.7%
    assert attempt.score == 66 and not attempt.passed
    quiz.pass_mark = 66
    quiz.save()
    attempt = submit(alice, quiz, answers(quiz, right={1, 2, 3, 4}))
    assert attempt.score == 66 and attempt.passed


def test_fail_then_retake_then_pass_keeps_best_and_latest(alice, quiz):
    first = submit(alice, quiz, answers(quiz, right={1}))
    status = quiz_status_for_user(alice, [quiz.lesson])[quiz.lesson_id]
    assert (status["best_score"], status["latest_score"], status["passed"], status["attempts"]) == (33, 33, False, 1)

    second = submit(alice, quiz, answers(quiz, right={1, 2, 3}))
    assert second.pk != first.pk and second.passed
    status = quiz_status_for_user(alice, [quiz.lesson])[quiz.lesson_id]
    assert (status["best_score"], status["latest_score"], status["passed"], status["attempts"]) == (100, 100, True, 2)

    submit(alice, quiz, answers(quiz, right={2}))  # a worse retake: best stays, latest drops, still passed
    status = quiz_status_for_user(alice, [quiz.lesson])[quiz.lesson_id]
    assert (status["best_score"], status["latest_score"], status["passed"], status["attempts"]) == (100, 33, True, 3)


def test_starting_twice_reuses_the_open_attempt(alice, quiz):
    first = services.attempt_start(student=alice, quiz=quiz)
    assert services.attempt_start(student=alice, quiz=quiz) == first
    assert Attempt.objects.count() == 1


def test_choice_order_is_per_attempt_and_covers_every_choice(alice, quiz):
    orders = set()
    for _ in range(12):
        attempt = services.attempt_start(student=alice, quiz=quiz)
        for question in quiz.questions.all():
            assert sorted(attempt.choice_order[str(question.id)]) == sorted(question.choices.values_list("id", flat=True))
        orders.add(tuple(tuple(ids) for ids in attempt.choice_order.values()))
        services.attempt_submit(attempt=attempt, selections=answers(quiz))
    assert len(orders) > 1  # shuffled: 12 identical orders of 3!·4!·3! permutations would be a bug


def test_no_shuffle_keeps_the_authored_order(alice, lesson):
    quiz = make_quiz(lesson, shuffle=False)
    attempt = services.attempt_start(student=alice, quiz=quiz)
    questions = questions_for_attempt(attempt)
    assert [c.text for c in questions[0].ordered_choices] == ["Alpha", "Bravo", "Charlie"]
