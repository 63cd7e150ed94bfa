"""Quiz fixtures: a published course and lesson with a small quiz whose answers are known
(tests/factories.py QUESTIONS), and helpers that answer it."""
import pytest

from quizzes.models import Answer, Attempt
from tests.factories import make_lesson, make_quiz


def answers(quiz, *, right=(), partial=()):
    """Selections for `quiz`: questions whose number is in `right` get the correct set; those in
    `partial` get one correct choice only; the rest get one wrong choice."""
    selections = {}
    for number, question in enumerate(quiz.questions.prefetch_related("choices"), 1):
        correct = [c.id for c in question.choices.all() if c.is_correct]
        wrong = [c.id for c in question.choices.all() if not c.is_correct]
        if number in right:
            selections[question.id] = correct
        elif number in partial:
            selections[question.id] = correct[:1]
        else:
            selections[question.id] = wrong[:1]
    return selections


def as_post(selections) -> dict:
    return {f"q{qid}": [str(c) for c in ids] for qid, ids in selections.items()}


def db_snapshot() -> dict:
    """Everything a submission could change, to assert that a refused one changed nothing."""
    return {
        "attempts": sorted(Attempt.objects.values_list("id", "code", "student_id", "quiz_id", "submitted_at", "score",
                                                        "passed", "correct_count", "question_count")),
        "answers": sorted(Answer.objects.values_list("id", "attempt_id", "question_id", "is_correct")),
        "selected": sorted(Answer.selected.through.objects.values_list("answer_id", "choice_id")),
    }


@pytest.fixture
def lesson(db):
    return make_lesson()


@pytest.fixture
def quiz(lesson):
    return make_quiz(lesson)


def speak(user, language):
    """Logged-in users see the language saved on their profile (PreferredLanguageMiddleware)."""
    user.preferred_language = language
    user.save(update_fields=["preferred_language"])
