"""An instructor (staff, in Instructors, not a superuser) edits a lesson and a quiz question
in the admin, in headless Chromium; a student then sees both changes on the site."""
import re

import pytest

from tests.e2e.conftest import PageWatch, login
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.e2e

LESSON_URL = "/courses/build-llms-ja/01-what-is-an-llm/"


def test_an_instructors_edits_reach_the_students(page, browser, live_server, seeded, shoot):
    from courses.models import Lesson
    from quizzes.models import Question

    teacher = make_user("sensei", instructor=True)
    assert teacher.is_staff and not teacher.is_superuser
    make_user("taro")
    lesson = Lesson.objects.get(course__slug="build-llms-ja", slug="01-what-is-an-llm")
    question = Question.objects.filter(quiz__lesson=lesson).order_by("order", "id").first()
    watch = PageWatch(page)
    url = live_server.url

    login(page, live_server, "sensei", PASSWORD)
    page.goto(url + "/admin/")
    assert page.locator("a[href='/admin/courses/lesson/']").count() >= 1
    assert page.locator("a[href='/admin/accounts/user/']").count() == 0, "instructors do not manage accounts"
    shoot("admin-index-ja")

    # Edit the lesson: a new title and a new paragraph, then save.
    page.goto(url + f"/admin/courses/lesson/{lesson.pk}/change/")
    page.fill("input[name=title]", "大規模言語モデルとは（改訂版）")
    body = page.input_value("textarea[name=body_md]")
    page.fill("textarea[name=body_md]", body + "\n\n## 先生からのひとこと\n\n**毎日少しずつ**読み進めましょう。\n")
    shoot("admin-lesson-ja")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r".*/admin/courses/lesson/(\?.*)?$"))
    assert page.locator(".messagelist .success").count() == 1

    # Edit a quiz question's text, then save.
    page.goto(url + f"/admin/quizzes/question/{question.pk}/change/")
    page.fill("textarea[name=text]", "【改訂】" + question.text)
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r".*/admin/quizzes/question/(\?.*)?$"))
    assert page.locator(".messagelist .success").count() == 1

    # A student, in a browser of their own, sees both.
    student_context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    student = student_context.new_page()
    student_watch = PageWatch(student)
    login(student, live_server, "taro", PASSWORD)
    student.goto(url + LESSON_URL)
    assert student.inner_text("h1") == "大規模言語モデルとは（改訂版）"
    assert student.locator(".lesson-body h2", has_text="先生からのひとこと").count() == 1
    assert student.inner_text(".lesson-body strong >> text=毎日少しずつ") == "毎日少しずつ"
    student.click("#quiz form.quiz-start-form button")
    student.wait_for_selector("form.quiz-form")
    assert student.locator(".quiz-question-text").first.inner_text().startswith("【改訂】")
    student_context.close()

    watch.assert_clean(allowed=["/favicon.ico"])  # Django's admin pages name no icon, so Chromium asks for one
    student_watch.assert_clean()
