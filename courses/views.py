from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courses import selectors, services
from quizzes.selectors import quiz_status_for_user
from training.selectors import latest_runs_for_user


def lab_strings() -> dict:
    """Translated strings for static/js/lab.js, when the lab app provides them."""
    from training import lab_views

    provider = getattr(lab_views, "lab_strings", None)
    return provider() if callable(provider) else {}


def catalog(request):
    language = get_language()
    courses = selectors.catalog_for_user(user=request.user, language=language)
    return render(request, "courses/catalog.html", {
        "courses_in_language": [item for item in courses if item.course.language == language],
        "courses_in_other_languages": [item for item in courses if item.course.language != language],
    })


def course_detail(request, course_slug):
    course = selectors.course_for_user(user=request.user, slug=course_slug)
    progress = selectors.course_progress(user=request.user, course=course)
    return render(request, "courses/detail.html", {"course": course, "progress": progress})


def lesson_detail(request, course_slug, lesson_slug):
    course = selectors.course_for_user(user=request.user, slug=course_slug)
    lesson = selectors.lesson_for_user(user=request.user, course=course, slug=lesson_slug)
    if request.user.is_authenticated:
        services.lesson_progress_record_view(user=request.user, lesson=lesson)
    progress = selectors.course_progress(user=request.user, course=course)
    row = selectors.lesson_row_or_404(progress=progress, slug=lesson_slug)
    lessons = [item.lesson for item in progress.rows]
    previous, following = selectors.neighbours(lessons=lessons, lesson=row.lesson)
    return render(request, "courses/lesson.html", {
        "course": course, "lesson": row.lesson, "row": row, "progress": progress,
        "number": lessons.index(row.lesson) + 1, "previous": previous, "next": following,
        "lab_strings": lab_strings(),
    })


@login_required
@require_POST
def lesson_complete(request, course_slug, lesson_slug):
    course = selectors.course_for_user(user=request.user, slug=course_slug)
    lesson = selectors.lesson_for_user(user=request.user, course=course, slug=lesson_slug)
    services.lesson_progress_complete(user=request.user, lesson=lesson)
    messages.success(request, _("Lesson marked as complete."))
    return redirect(lesson.get_absolute_url() + "#lesson-complete")


@login_required
def dashboard(request):
    user = request.user
    courses = selectors.catalog_for_user(user=user, language=get_language())
    main = courses[0] if courses else None
    shown = [item for item in courses if item is main or item.started]
    lessons = [row.lesson for item in shown for row in item.rows]
    quiz_status = quiz_status_for_user(user, lessons)
    latest_runs = latest_runs_for_user(user, limit=5)
    return render(request, "courses/dashboard.html", {
        "main": main, "courses": shown, "lessons": lessons, "quiz_status": quiz_status,
        "latest_runs": latest_runs,
        "lessons_done": sum(item.done for item in shown),
        "quizzes_passed": sum(1 for status in quiz_status.values() if status.get("passed")),
        "step": selectors.next_step(progress=main, quiz_status=quiz_status, has_runs=bool(latest_runs)),
    })
