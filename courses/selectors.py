"""Read-side helpers for the course pages and the dashboard (llmschool/dashboard.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.http import Http404

from courses.models import Course, Lesson, LessonProgress

NEW, VIEWED, COMPLETED = "new", "viewed", "completed"


def user_can_preview(user) -> bool:
    """Instructors see unpublished courses and lessons; students get a 404."""
    return bool(user.is_authenticated and user.is_staff and user.has_perm("courses.change_lesson"))


def course_for_user(*, user, slug: str) -> Course:
    courses = Course.objects.all() if user_can_preview(user) else Course.objects.published()
    try:
        return courses.get(slug=slug)
    except Course.DoesNotExist:
        raise Http404("No such course")


def lessons_for_user(*, user, course: Course):
    lessons = course.lessons.all() if user_can_preview(user) else course.lessons.filter(published=True)
    return lessons.order_by("order", "id")


def lesson_for_user(*, user, course: Course, slug: str) -> Lesson:
    try:
        return lessons_for_user(user=user, course=course).select_related("course").get(slug=slug)
    except Lesson.DoesNotExist:
        raise Http404("No such lesson")


@dataclass
class LessonRow:
    lesson: Lesson
    state: str = NEW
    completed_at: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.state == COMPLETED


@dataclass
class CourseProgress:
    course: Course
    rows: list[LessonRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def done(self) -> int:
        return sum(row.completed for row in self.rows)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def minutes(self) -> int:
        return sum(row.lesson.minutes for row in self.rows)

    @property
    def next_lesson(self) -> Lesson | None:
        """The first lesson not yet completed, in course order."""
        return next((row.lesson for row in self.rows if not row.completed), None)

    @property
    def started(self) -> bool:
        return any(row.state != NEW for row in self.rows)


def _progress_for(user, lessons) -> dict[int, datetime | None]:
    """{lesson_id: completed_at} for the lessons the user has opened."""
    if not user.is_authenticated:
        return {}
    return dict(LessonProgress.objects.filter(user=user, lesson__in=lessons).values_list("lesson_id", "completed_at"))


def course_progress(*, user, course: Course, lessons=None) -> CourseProgress:
    lessons = list(lessons if lessons is not None else lessons_for_user(user=user, course=course))
    opened = _progress_for(user, lessons)
    rows = []
    for lesson in lessons:
        if lesson.id not in opened:
            rows.append(LessonRow(lesson))
        else:
            completed_at = opened[lesson.id]
            rows.append(LessonRow(lesson, COMPLETED if completed_at else VIEWED, completed_at))
    return CourseProgress(course=course, rows=rows)


def lesson_row_or_404(*, progress: CourseProgress, slug: str) -> LessonRow:
    """The lesson's row among those the user may see (unpublished ones only for instructors)."""
    for row in progress.rows:
        if row.lesson.slug == slug:
            return row
    raise Http404("No such lesson")


def catalog_for_user(*, user, language: str) -> list[CourseProgress]:
    """Published courses (all courses for instructors), the UI language first, with progress."""
    courses = Course.objects.all() if user_can_preview(user) else Course.objects.published()
    courses = list(courses.language_first(language))
    lessons = Lesson.objects.filter(course__in=courses).order_by("order", "id")
    if not user_can_preview(user):
        lessons = lessons.filter(published=True)
    by_course: dict[int, list[Lesson]] = {course.id: [] for course in courses}
    for lesson in lessons:
        by_course[lesson.course_id].append(lesson)
    return [course_progress(user=user, course=course, lessons=by_course[course.id]) for course in courses]


def neighbours(*, lessons: list[Lesson], lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    ids = [item.id for item in lessons]
    index = ids.index(lesson.id)
    previous = lessons[index - 1] if index > 0 else None
    following = lessons[index + 1] if index + 1 < len(lessons) else None
    return previous, following
