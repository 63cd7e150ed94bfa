import pytest

from tests.factories import make_course, make_lesson


@pytest.fixture
def course(db):
    """A published Japanese course with three published lessons (01, 02, 03)."""
    course = make_course("llm-ja", language="ja")
    for number in (1, 2, 3):
        make_lesson(f"0{number}-lesson", course=course, order=number, title=f"第 {number} 回")
    return course


@pytest.fixture
def course_en(db):
    course = make_course("llm-en", language="en", title="Build and understand LLMs", order=2)
    for number in (1, 2):
        make_lesson(f"0{number}-lesson", course=course, order=number, title=f"Lesson {number}")
    return course
