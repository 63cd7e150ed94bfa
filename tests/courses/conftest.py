import pytest

from courses.models import Course, Lesson


def make_course(slug="llm-ja", *, language="ja", published=True, **extra):
    defaults = {"title": f"Course {slug}", "description": "About LLMs.", "order": 1}
    return Course.objects.create(slug=slug, language=language, published=published, **{**defaults, **extra})


def make_lesson(course, slug, *, order=1, published=True, body="## Intro\n\nSome text.", **extra):
    defaults = {"title": f"Lesson {slug}", "summary": f"Summary of {slug}.", "minutes": 15}
    return Lesson.objects.create(course=course, slug=slug, order=order, published=published, body_md=body,
                                 **{**defaults, **extra})


@pytest.fixture
def course(db):
    """A published Japanese course with three published lessons (01, 02, 03)."""
    course = make_course("llm-ja", language="ja")
    for number in (1, 2, 3):
        make_lesson(course, f"0{number}-lesson", order=number, title=f"第 {number} 回")
    return course


@pytest.fixture
def course_en(db):
    course = make_course("llm-en", language="en", title="Build and understand LLMs", order=2)
    for number in (1, 2):
        make_lesson(course, f"0{number}-lesson", order=number, title=f"Lesson {number}")
    return course
