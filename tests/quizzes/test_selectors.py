"""quiz_status_for_user: the contract the dashboard and the lesson page rely on."""
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from quizzes import services
from quizzes.selectors import quiz_status_for_user
from tests.factories import make_lesson, make_quiz
from tests.quizzes.conftest import answers

pytestmark = pytest.mark.django_db


def submit(user, quiz, right):
    attempt = services.attempt_start(student=user, quiz=quiz)
    services.attempt_submit(attempt=attempt, selections=answers(quiz, right=right))


@pytest.fixture
def three_lessons(db):
    first, second, third = make_lesson("01-a"), make_lesson("02-b"), make_lesson("03-c")
    return first, second, third, make_quiz(first), make_quiz(second)


def test_status_per_lesson(alice, bob, three_lessons):
    first, second, third, quiz_one, quiz_two = three_lessons
    submit(alice, quiz_one, {1})
    submit(alice, quiz_one, {1, 2, 3})
    submit(bob, quiz_two, {1, 2, 3})  # someone else's results never show
    services.attempt_start(student=alice, quiz=quiz_two)
    status = quiz_status_for_user(alice, [first, second, third])
    assert set(status) == {first.id, second.id}  # no quiz, no entry
    one, two = status[first.id], status[second.id]
    assert one["quiz"] == quiz_one and two["quiz"] == quiz_two
    assert (one["best_score"], one["latest_score"], one["passed"], one["attempts"]) == (100, 100, True, 2)
    assert one["open_attempt"] is None
    assert (two["best_score"], two["latest_score"], two["passed"], two["attempts"]) == (None, None, False, 0)
    assert two["open_attempt"] is not None


def test_latest_is_the_last_submitted_not_the_last_started(alice, three_lessons):
    first, _, _, quiz, _ = three_lessons
    early = services.attempt_start(student=alice, quiz=quiz)
    submit(alice, quiz, set())  # the open attempt above is reused and scores 0
    late = services.attempt_start(student=alice, quiz=quiz)
    services.attempt_submit(attempt=late, selections=answers(quiz, right={1, 2}))
    assert early.pk != late.pk
    status = quiz_status_for_user(alice, [first])[first.id]
    assert (status["best_score"], status["latest_score"], status["attempts"]) == (66, 66, 2)


def test_unpublished_quizzes_are_left_out(alice, three_lessons):
    first, second, _, quiz_one, _ = three_lessons
    quiz_one.published = False
    quiz_one.save()
    assert set(quiz_status_for_user(alice, [first, second])) == {second.id}


def test_anonymous_users_get_the_quizzes_without_results(three_lessons):
    first, second, *_ = three_lessons
    status = quiz_status_for_user(AnonymousUser(), [first, second])
    assert [status[first.id]["attempts"], status[first.id]["best_score"]] == [0, None]


def test_accepts_ids_and_querysets_and_takes_two_queries(alice, three_lessons):
    from courses.models import Lesson

    first, second, third, quiz_one, quiz_two = three_lessons
    submit(alice, quiz_one, {1})
    submit(alice, quiz_two, {1, 2, 3})
    with CaptureQueriesContext(connection) as queries:
        by_queryset = quiz_status_for_user(alice, Lesson.objects.all())
    assert len(queries) <= 3
    assert by_queryset == quiz_status_for_user(alice, [first.id, second.id, third.id])
    assert quiz_status_for_user(alice, []) == {}
