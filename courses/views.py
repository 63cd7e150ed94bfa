from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courses import selectors, services


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
    })


@login_required
@require_POST
def lesson_complete(request, course_slug, lesson_slug):
    course = selectors.course_for_user(user=request.user, slug=course_slug)
    lesson = selectors.lesson_for_user(user=request.user, course=course, slug=lesson_slug)
    services.lesson_progress_complete(user=request.user, lesson=lesson)
    messages.success(request, _("Lesson marked as complete."))
    return redirect(lesson.get_absolute_url() + "#lesson-complete")
