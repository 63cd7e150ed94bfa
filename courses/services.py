"""Write-side operations on courses: progress and publishing."""
from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.models import Lesson, LessonProgress


def _progress_get_or_create(*, user, lesson: Lesson) -> tuple[LessonProgress, bool]:
    try:
        with transaction.atomic():
            return LessonProgress.objects.get_or_create(user=user, lesson=lesson)
    except IntegrityError:  # two tabs opened the lesson at the same moment
        return LessonProgress.objects.get(user=user, lesson=lesson), False


def lesson_progress_record_view(*, user, lesson: Lesson) -> LessonProgress:
    """Remember the first time a student opened a lesson (one write per student and lesson)."""
    progress, _ = _progress_get_or_create(user=user, lesson=lesson)
    if progress.viewed_at is None:
        progress.viewed_at = timezone.now()
        progress.save(update_fields=["viewed_at"])
    return progress


def lesson_progress_complete(*, user, lesson: Lesson) -> LessonProgress:
    """Mark a lesson complete; completing it again keeps the first completion time."""
    progress, _ = _progress_get_or_create(user=user, lesson=lesson)
    now = timezone.now()
    changed = []
    if progress.viewed_at is None:
        progress.viewed_at = now
        changed.append("viewed_at")
    if progress.completed_at is None:
        progress.completed_at = now
        changed.append("completed_at")
    if changed:
        progress.save(update_fields=changed)
    return progress


def lessons_set_published(*, lessons, published: bool) -> int:
    """Publish or unpublish lessons (admin action); returns how many changed."""
    return lessons.exclude(published=published).update(published=published, updated_at=timezone.now())
