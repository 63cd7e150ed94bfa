"""The dashboard: lessons done, quiz and run panels, and the next step to take."""
import pytest
from django.test import Client
from django.urls import reverse

from courses import selectors
from llmschool.dashboard import next_step
from courses.services import lesson_progress_complete, lesson_progress_record_view

pytestmark = pytest.mark.django_db


def test_dashboard_needs_a_login():
    response = Client().get(reverse("dashboard"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_new_student_is_sent_to_the_first_lesson(alice_client, course, course_en):
    response = alice_client.get(reverse("dashboard"))
    page = response.content.decode()
    first = course.lessons.order_by("order").first()
    assert f'href="{first.get_absolute_url()}">最初のレッスンを始める' in page
    assert '<p class="stat">0</p><p class="stat-label">完了したレッスン' in page
    assert "ようこそ、alice さん" in page and "おかえりなさい" not in page  # nothing to come back to yet
    used = {template.name for template in response.templates}
    assert {"quizzes/includes/dashboard_quizzes.html", "training/includes/dashboard_runs.html"} <= used
    # The UI-language course is the one followed; the English course is not shown until started.
    assert "Build and understand LLMs" not in page


def test_progress_and_the_next_unfinished_lesson(alice_client, alice, course, course_en):
    first, second, third = course.lessons.order_by("order")
    lesson_progress_complete(user=alice, lesson=first)
    lesson_progress_record_view(user=alice, lesson=second)
    lesson_progress_complete(user=alice, lesson=course_en.lessons.first())
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert f'href="{second.get_absolute_url()}">続きから学ぶ' in page
    assert "おかえりなさい、alice さん" in page
    assert '<p class="stat">2</p><p class="stat-label">完了したレッスン' in page  # both languages count
    assert "全 3 回中 1 回を完了" in page and "全 2 回中 1 回を完了" in page
    assert "Build and understand LLMs" in page  # a started course in another language is shown


def test_when_every_lesson_is_done_the_next_step_is_training(alice_client, alice, course):
    for lesson in course.lessons.all():
        lesson_progress_complete(user=alice, lesson=lesson)
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert "はじめてのモデルを学習させる" in page
    assert '<p class="stat">3</p>' in page


def test_english_students_get_the_english_course(client, course, course_en):
    from tests.factories import make_user

    client.force_login(make_user("emma", preferred_language="en"))
    page = client.get(reverse("dashboard")).content.decode()
    first = course_en.lessons.order_by("order").first()
    assert f'href="{first.get_absolute_url()}">Start the first lesson' in page


def test_next_step_order_lessons_then_quizzes_then_training(alice, course):
    lessons = list(course.lessons.order_by("order"))
    progress = selectors.course_progress(user=alice, course=course)
    assert next_step(progress=progress, quiz_status={}, has_runs=False).lesson == lessons[0]

    for lesson in lessons:
        lesson_progress_complete(user=alice, lesson=lesson)
    progress = selectors.course_progress(user=alice, course=course)
    quiz_status = {
        lessons[0].id: {"quiz": object(), "best_score": 100, "latest_score": 100, "passed": True, "attempts": 1},
        lessons[1].id: {"quiz": object(), "best_score": 40, "latest_score": 40, "passed": False, "attempts": 2},
    }
    step = next_step(progress=progress, quiz_status=quiz_status, has_runs=False)
    assert (step.kind, step.lesson) == ("quiz", lessons[1])

    quiz_status[lessons[1].id]["passed"] = True
    assert next_step(progress=progress, quiz_status=quiz_status, has_runs=False).kind == "train"
    assert next_step(progress=progress, quiz_status=quiz_status, has_runs=True).kind == "explore"
    assert next_step(progress=None, quiz_status={}, has_runs=False).kind == "train"
