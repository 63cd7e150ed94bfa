"""Read-side helpers: a student's quiz status per lesson, and statistics for instructors."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.http import Http404

from quizzes.models import Answer, Attempt, Question, Quiz


def quiz_status_for_user(user, lessons) -> dict:
    """{lesson_id: {"quiz", "best_score", "latest_score", "passed", "attempts", "open_attempt"}}.

    Only lessons with a published quiz appear. Scores are None until an attempt is submitted;
    "passed" means some submitted attempt passed; "open_attempt" is the attempt in progress.
    Two queries, however many lessons.
    """
    quizzes = list(Quiz.objects.filter(lesson__in=lessons, published=True)
                   .annotate(question_total=Count("questions")))
    status = {quiz.lesson_id: {"quiz": quiz, "best_score": None, "latest_score": None, "passed": False,
                               "attempts": 0, "open_attempt": None} for quiz in quizzes}
    if not quizzes or not user.is_authenticated:
        return status
    mine = Attempt.objects.filter(student=user, quiz__in=quizzes)
    latest = (mine.filter(quiz=OuterRef("quiz"), submitted_at__isnull=False)
              .order_by("-submitted_at", "-id").values("score")[:1])
    open_code = mine.filter(quiz=OuterRef("quiz"), submitted_at__isnull=True).order_by("-started_at").values("code")[:1]
    rows = (mine.values("quiz_id", "quiz__lesson_id")
            .annotate(best=Max("score"), submitted=Count("id", filter=Q(submitted_at__isnull=False)),
                      passes=Count("id", filter=Q(passed=True)), latest=Subquery(latest), open=Subquery(open_code)))
    for row in rows:
        entry = status[row["quiz__lesson_id"]]
        entry.update(best_score=row["best"], latest_score=row["latest"], passed=row["passes"] > 0,
                     attempts=row["submitted"], open_attempt=row["open"])
    return status


def attempt_for_user(*, user, code) -> Attempt:
    """The user's own attempt on an available quiz; anyone else's, or a hidden quiz's, is a 404."""
    try:
        return (Attempt.objects.select_related("quiz__lesson__course")
                .get(code=code, student=user, quiz__in=Quiz.objects.available()))
    except Attempt.DoesNotExist:
        raise Http404("No such attempt")


def quiz_for_student(*, pk) -> Quiz:
    try:
        return Quiz.objects.available().select_related("lesson__course").get(pk=pk)
    except Quiz.DoesNotExist:
        raise Http404("No such quiz")


def questions_for_attempt(attempt: Attempt) -> list[Question]:
    """The quiz's questions, each with `.ordered_choices` in the order this attempt shows them."""
    questions = list(attempt.quiz.questions.prefetch_related("choices"))
    for question in questions:
        position = {choice_id: i for i, choice_id in enumerate(attempt.choice_order.get(str(question.id), []))}
        # Choices added after the attempt started go last, in their usual order.
        question.ordered_choices = sorted(question.choices.all(), key=lambda c: position.get(c.id, len(position)))
    return questions


def answer_review(attempt: Attempt, questions) -> list[dict]:
    """Per question of a submitted attempt: its choices (with selected/correct) and whether it was right."""
    answers = {answer.question_id: answer for answer in attempt.answers.prefetch_related("selected")}
    review = []
    for question in questions:
        answer = answers.get(question.id)
        selected = {choice.id for choice in answer.selected.all()} if answer else set()
        review.append({
            "question": question,
            "answered": answer is not None,
            "is_correct": bool(answer and answer.is_correct),
            "choices": [{"choice": choice, "selected": choice.id in selected} for choice in question.ordered_choices],
        })
    return review


# Instructor statistics -------------------------------------------------------------------

@dataclass
class ChoiceStat:
    text: str
    is_correct: bool
    picked: int
    share: float | None  # of the answers to the question


@dataclass
class QuestionStat:
    question_id: int
    order: int
    number: int
    text: str
    kind: str
    answered: int
    correct: int
    choices: list[ChoiceStat] = field(default_factory=list)

    @property
    def share_correct(self) -> float | None:
        return self.correct / self.answered if self.answered else None


@dataclass
class QuizStats:
    quiz: Quiz
    attempts: int
    students: int
    passed_attempts: int
    students_passed: int
    average_score: float | None
    questions: list[QuestionStat]

    @property
    def pass_rate(self) -> float | None:
        return self.passed_attempts / self.attempts if self.attempts else None


def question_statistics(quiz: Quiz) -> list[QuestionStat]:
    """Every question with its answer counts over submitted attempts, weakest first
    (lowest share answered correctly; unanswered questions last)."""
    questions = list(quiz.questions.prefetch_related("choices").annotate(
        answered=Count("answers", filter=Q(answers__attempt__submitted_at__isnull=False)),
        right=Count("answers", filter=Q(answers__attempt__submitted_at__isnull=False, answers__is_correct=True)),
    ))
    picks = dict(Answer.selected.through.objects
                 .filter(answer__question__quiz=quiz, answer__attempt__submitted_at__isnull=False)
                 .values("choice_id").annotate(n=Count("id")).values_list("choice_id", "n"))
    stats = []
    for number, question in enumerate(questions, 1):
        stat = QuestionStat(question.id, question.order, number, question.text, question.kind,
                            question.answered, question.right)
        for choice in question.choices.all():
            picked = picks.get(choice.id, 0)
            stat.choices.append(ChoiceStat(choice.text, choice.is_correct, picked,
                                           picked / question.answered if question.answered else None))
        stats.append(stat)
    stats.sort(key=lambda s: (s.share_correct is None, s.share_correct or 0, s.number))
    return stats


def quiz_statistics(quiz: Quiz) -> QuizStats:
    submitted = quiz.attempts.filter(submitted_at__isnull=False)
    totals = submitted.aggregate(
        n_attempts=Count("id"), n_students=Count("student", distinct=True),
        n_passed=Count("id", filter=Q(passed=True)),
        n_students_passed=Count("student", distinct=True, filter=Q(passed=True)),
    )
    scores = list(submitted.values_list("score", flat=True))
    return QuizStats(quiz=quiz, attempts=totals["n_attempts"], students=totals["n_students"],
                     passed_attempts=totals["n_passed"], students_passed=totals["n_students_passed"],
                     average_score=sum(scores) / len(scores) if scores else None,
                     questions=question_statistics(quiz))


def quiz_problems(quiz: Quiz) -> list[str]:
    """What would make the quiz unfair or impossible to pass, in words an instructor acts on."""
    from django.utils.translation import gettext as _

    problems = []
    questions = list(quiz.questions.prefetch_related("choices"))
    if not questions:
        problems.append(_("The quiz has no questions: students cannot start it."))
    for number, question in enumerate(questions, 1):
        choices = list(question.choices.all())
        correct = sum(choice.is_correct for choice in choices)
        if len(choices) < 2:
            problems.append(_("Question %(number)s needs at least two choices.") % {"number": number})
        elif question.is_multiple and correct < 1:
            problems.append(_("Question %(number)s has no correct choice.") % {"number": number})
        elif not question.is_multiple and correct != 1:
            problems.append(_("Question %(number)s is single choice but has %(count)s correct choices.")
                            % {"number": number, "count": correct})
    return problems
