from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courses.models import Course
from quizzes import selectors, services
from quizzes.forms import AttemptForm
from quizzes.models import Quiz


@login_required
def quiz_list(request):
    """Every available quiz, grouped by course, the UI language's course first, with the student's status."""
    quizzes = list(Quiz.objects.available().select_related("lesson__course")
                   .order_by("lesson__course__order", "lesson__order", "id"))
    status = selectors.quiz_status_for_user(request.user, [quiz.lesson_id for quiz in quizzes])
    courses = {course.id: {"course": course, "rows": []}
               for course in Course.objects.filter(lessons__quiz__in=quizzes).distinct().language_first(get_language())}
    for quiz in quizzes:
        courses[quiz.lesson.course_id]["rows"].append(status[quiz.lesson_id])
    return render(request, "quizzes/list.html", {"courses": list(courses.values())})


@login_required
def quiz_detail(request, quiz_id):
    quiz = selectors.quiz_for_student(pk=quiz_id)
    status = selectors.quiz_status_for_user(request.user, [quiz.lesson_id])[quiz.lesson_id]
    history = quiz.attempts.filter(student=request.user, submitted_at__isnull=False).order_by("-submitted_at")[:20]
    return render(request, "quizzes/detail.html", {"quiz": quiz, "status": status, "history": history})


@login_required
@require_POST
def attempt_start(request, quiz_id):
    quiz = selectors.quiz_for_student(pk=quiz_id)
    if not quiz.questions.exists():
        messages.error(request, _("This quiz has no questions yet."))
        return redirect(quiz)
    attempt = services.attempt_start(student=request.user, quiz=quiz)
    return redirect("quizzes:attempt_take", attempt.code)


def _render_take(request, attempt, form, status=200):
    return render(request, "quizzes/take.html", {"attempt": attempt, "quiz": attempt.quiz, "form": form}, status=status)


@login_required
def attempt_take(request, code):
    attempt = selectors.attempt_for_user(user=request.user, code=code)
    if attempt.is_submitted:
        return redirect("quizzes:attempt_result", attempt.code)
    form = AttemptForm(questions=selectors.questions_for_attempt(attempt))
    return _render_take(request, attempt, form)


@login_required
@require_POST
def attempt_submit(request, code):
    attempt = selectors.attempt_for_user(user=request.user, code=code)
    if attempt.is_submitted:
        messages.info(request, _("You already submitted this attempt; your first answers were graded."))
        return redirect("quizzes:attempt_result", attempt.code)
    form = AttemptForm(request.POST, questions=selectors.questions_for_attempt(attempt))
    if not form.is_valid():
        unanswered = form.unanswered_numbers()
        if len(unanswered) == len(form.errors):
            # An ordinary slip: show the form again, with the student's selections kept.
            messages.error(request, _("Please answer every question. Still open: %(numbers)s.")
                           % {"numbers": ", ".join(map(str, unanswered))})
            return _render_take(request, attempt, form)
        messages.error(request, _("Some answers could not be accepted. Please check the marked questions."))
        return _render_take(request, attempt, form, status=400)
    try:
        services.attempt_submit(attempt=attempt, selections=form.selections())
    except services.AlreadySubmitted:
        messages.info(request, _("You already submitted this attempt; your first answers were graded."))
    except services.InvalidAnswers as exc:
        messages.error(request, str(exc))
        return _render_take(request, attempt, form, status=400)
    return redirect("quizzes:attempt_result", attempt.code)


@login_required
def attempt_result(request, code):
    attempt = selectors.attempt_for_user(user=request.user, code=code)
    if not attempt.is_submitted:
        return redirect("quizzes:attempt_take", attempt.code)
    quiz = attempt.quiz
    review = selectors.answer_review(attempt, selectors.questions_for_attempt(attempt))
    status = selectors.quiz_status_for_user(request.user, [quiz.lesson_id])[quiz.lesson_id]
    return render(request, "quizzes/result.html", {"attempt": attempt, "quiz": quiz, "review": review,
                                                   "status": status})
