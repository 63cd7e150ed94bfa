"""Write-side of quizzes: starting attempts and grading submissions, on the server only."""
from __future__ import annotations

import random

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from quizzes.models import Answer, Attempt, Question, Quiz


class SubmissionError(Exception):
    """The submission was refused; nothing was written."""


class AlreadySubmitted(SubmissionError):
    pass


class InvalidAnswers(SubmissionError):
    pass


def attempt_start(*, student, quiz: Quiz) -> Attempt:
    """The student's open attempt at this quiz, or a new one with this attempt's choice order.

    Re-using an open attempt means a double click on "Start" or a reload never piles up
    empty attempts.
    """
    open_attempt = Attempt.objects.filter(student=student, quiz=quiz, submitted_at__isnull=True).first()
    if open_attempt is not None:
        return open_attempt
    order: dict[str, list[int]] = {}
    for question in quiz.questions.prefetch_related("choices"):
        ids = [choice.id for choice in question.choices.all()]
        if quiz.shuffle_choices:
            random.shuffle(ids)
        order[str(question.id)] = ids
    return Attempt.objects.create(student=student, quiz=quiz, choice_order=order)


def _grade(question: Question, selected: set[int]) -> bool:
    correct = {choice.id for choice in question.choices.all() if choice.is_correct}
    return bool(correct) and selected == correct


def _check_selections(questions: list[Question], selections: dict[int, list[int]]) -> dict[int, set[int]]:
    """Selections as sets, or InvalidAnswers if one is missing, foreign or too many."""
    checked = {}
    for number, question in enumerate(questions, 1):
        chosen = set(selections.get(question.id) or ())
        if not chosen:
            raise InvalidAnswers(_("Question %(number)s has no answer.") % {"number": number})
        if not chosen <= {choice.id for choice in question.choices.all()}:
            raise InvalidAnswers(_("An answer to question %(number)s is not one of its choices.") % {"number": number})
        if not question.is_multiple and len(chosen) != 1:
            raise InvalidAnswers(_("Question %(number)s takes exactly one answer.") % {"number": number})
        checked[question.id] = chosen
    return checked


def attempt_submit(*, attempt: Attempt, selections: dict[int, list[int]]) -> Attempt:
    """Grade `selections` ({question id: [choice ids]}) and close the attempt, exactly once.

    The attempt is claimed with a conditional UPDATE (submitted_at IS NULL), so of two
    concurrent or replayed submissions exactly one writes anything; the other raises
    AlreadySubmitted. Any refusal leaves the database as it was.
    """
    if attempt.is_submitted:
        raise AlreadySubmitted(_("This attempt was already submitted."))
    questions = list(attempt.quiz.questions.prefetch_related("choices"))
    if not questions:
        raise InvalidAnswers(_("This quiz has no questions yet."))
    checked = _check_selections(questions, selections)

    with transaction.atomic():
        now = timezone.now()
        claimed = Attempt.objects.filter(pk=attempt.pk, submitted_at__isnull=True).update(submitted_at=now)
        if not claimed:
            raise AlreadySubmitted(_("This attempt was already submitted."))
        results = {question.id: _grade(question, checked[question.id]) for question in questions}
        answers = Answer.objects.bulk_create(
            Answer(attempt=attempt, question=question, is_correct=results[question.id]) for question in questions)
        Answer.selected.through.objects.bulk_create(
            Answer.selected.through(answer_id=answer.id, choice_id=choice_id)
            for answer in answers for choice_id in sorted(checked[answer.question_id]))
        correct, total = sum(results.values()), len(questions)
        attempt.submitted_at = now
        attempt.correct_count, attempt.question_count = correct, total
        # Rounded down, so that a score shown as 70% is never a fail at a 70% pass mark.
        attempt.score = 100 * correct // total
        attempt.passed = 100 * correct >= attempt.quiz.pass_mark * total
        attempt.save(update_fields=["correct_count", "question_count", "score", "passed"])
    return attempt

