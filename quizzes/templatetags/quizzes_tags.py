from django import template

from quizzes.selectors import quiz_status_for_user

register = template.Library()


@register.filter
def percent(share):
    """0.634 -> 63 (for "63%"); "–" when there is nothing to divide."""
    return "–" if share is None else round(share * 100)


@register.simple_tag
def lesson_quiz_status(lesson, user):
    """The quiz_status_for_user entry of one lesson, or None when it has no published quiz."""
    if lesson is None or not getattr(lesson, "pk", None):
        return None
    return quiz_status_for_user(user, [lesson.pk]).get(lesson.pk)


@register.simple_tag
def quiz_rows(lessons, quiz_status):
    """[(lesson, status)] in lesson order, for the lessons that have a quiz."""
    quiz_status = quiz_status or {}
    return [(lesson, quiz_status[lesson.id]) for lesson in lessons or () if lesson.id in quiz_status]
