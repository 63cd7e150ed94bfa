"""In Chromium, as a new student would: fail the first quiz, read the explanations, retake it,
pass, and find it on the dashboard. Screenshots go to test-artifacts/screenshots/."""
import re
from pathlib import Path

import pytest

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def seeded_quiz(transactional_db):
    from django.core.management import call_command

    from quizzes.models import Quiz

    call_command("seed_courses")
    call_command("seed_quizzes")
    return Quiz.objects.filter(lesson__language="en").order_by("lesson__order").first()


def answer(page, quiz, *, right: bool):
    """Tick every question: the correct set when `right`, else the first wrong choice."""
    for question in quiz.questions.prefetch_related("choices"):
        picks = [c for c in question.choices.all() if c.is_correct == right]
        for choice in picks if right else picks[:1]:
            page.check(f'input[name="q{question.id}"][value="{choice.id}"]')


def test_fail_read_retake_pass_dashboard(page, live_server, seeded_quiz):
    make_user("newbie", preferred_language="en")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    quiz = seeded_quiz
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "newbie")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")

    page.goto(live_server.url + quiz.lesson.get_absolute_url() + "#quiz")
    page.click(".quiz-box button[type=submit]")
    page.wait_for_url(re.compile(r"/quizzes/attempts/[0-9a-f-]+/$"))
    assert page.locator("fieldset.quiz-question").count() == quiz.questions.count()
    answer(page, quiz, right=False)
    page.click(".quiz-submit button")
    page.wait_for_url(re.compile(r"/result/$"))
    assert page.locator(".quiz-score.is-failed").is_visible()
    first_explanation = quiz.questions.first().explanation
    assert page.get_by_text(first_explanation[:40]).first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "quiz-failed.png"), full_page=True)

    page.click(".quiz-score-actions button")  # retake
    page.wait_for_url(re.compile(r"/quizzes/attempts/[0-9a-f-]+/$"))
    answer(page, quiz, right=True)
    page.click(".quiz-submit button")
    page.wait_for_url(re.compile(r"/result/$"))
    assert page.locator(".quiz-score.is-passed").is_visible()
    assert "100" in page.locator(".quiz-score-value").inner_text()

    page.goto(f"{live_server.url}/dashboard/")
    row = page.locator(".quiz-dashboard-row", has_text=quiz.lesson.title)
    assert "Passed" in row.inner_text() and "best 100%" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "quiz-dashboard.png"), full_page=True)
