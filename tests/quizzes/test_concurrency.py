"""Two submissions of the same attempt at the same moment (double click, two tabs): exactly one is graded."""
import threading

import pytest
from django.db import connection

from quizzes import services
from quizzes.models import Answer, Attempt
from tests.factories import make_quiz
from tests.quizzes.conftest import answers


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_grade_once(alice):
    quiz = make_quiz()
    attempt = services.attempt_start(student=alice, quiz=quiz)
    choices = [answers(quiz, right={1}), answers(quiz, right={1, 2, 3})]
    barrier = threading.Barrier(2)
    outcomes = []

    def submit(selections):
        try:
            stale = Attempt.objects.select_related("quiz").get(pk=attempt.pk)  # both load it before either writes
            barrier.wait(timeout=10)
            services.attempt_submit(attempt=stale, selections=selections)
            outcomes.append("graded")
        except services.AlreadySubmitted:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(selections,)) for selections in choices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["graded", "refused"]
    attempt.refresh_from_db()
    assert attempt.score in (33, 100)
    assert Answer.objects.filter(attempt=attempt).count() == 3
    assert Answer.selected.through.objects.filter(answer__attempt=attempt).count() == (4 if attempt.score == 100 else 3)
