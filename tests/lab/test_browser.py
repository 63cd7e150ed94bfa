"""The lab in headless Chromium: every explorer hydrates on /lab/ and inside a lesson, in
Japanese and English, with a student's own model; picks step the text on."""
import re

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def student(transactional_db, make_lab_run):
    from tests.factories import make_user

    user = make_user("hanako")
    run = make_lab_run(user, name="hanako-model", history=[
        {"step": s, "train_loss": t, "val_loss": v}
        for s, t, v in [(10, 4.0, 4.1), (20, 3.0, 3.2), (30, 2.4, 2.8), (40, 2.0, 2.9), (50, 1.6, 3.1)]])
    return user, run


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_explorer_works_on_the_lab_page(page, live_server, student, language):
    user, run = student
    user.preferred_language = language
    user.save()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/lab/")
    assert page.locator("#lab-model").input_value() == str(run.code)
    # Tokenizer: GPT-2 and the run's own tokenizer side by side.
    page.wait_for_selector(".lab-tokenizer .lab-tok-column:nth-child(2) .lab-token")
    assert page.locator(".lab-tokenizer .lab-tok-column").count() == 2
    assert "hanako-model" in page.inner_text(".lab-tokenizer")
    # Next token: picking appends to the text.
    page.wait_for_selector(".lab-next-token .lab-pick")
    before = page.inner_text(".lab-next-token .lab-text")
    with page.expect_response(lambda r: "/lab/api/next-token" in r.url and "ids=" in (r.request.post_data or "")):
        page.locator(".lab-next-token .lab-pick").first.click()
    page.wait_for_selector(".lab-next-token .lab-text-picked:not(:empty)")  # (wait_for_function needs eval: CSP)
    assert page.inner_text(".lab-next-token .lab-text") != before
    # Attention: a masked upper triangle, one thumbnail per head.
    page.wait_for_selector(".lab-attention .lab-hm-cell")
    n = page.locator(".lab-attention .lab-hm-row").count()
    assert page.locator(".lab-attention .lab-hm-cell.masked").count() == n * (n - 1) // 2
    assert page.locator(".lab-attention .lab-thumb").count() == 2
    # Loss: the curve and the observation about overfitting.
    page.wait_for_selector(".lab-my-run-loss .lab-observation-overfitting")
    assert "30" in page.inner_text(".lab-my-run-loss .lab-observation")
    assert errors == []


def test_widgets_hydrate_inside_a_lesson(page, live_server, student):
    from courses.models import Course, Lesson

    course = Course.objects.create(slug="lab-e2e", language="en", title="Lab course", published=True, order=1)
    lesson = Lesson.objects.create(course=course, slug="01-lab", order=1, title="Widgets", summary="", published=True,
                                   body_md='## Try\n\n{{ lab:tokenizer text="東京メトロ" }}\n\n'
                                           '{{ lab:next-token prompt="the cat" }}\n\n{{ lab:attention text="the cat sat" }}\n\n'
                                           '{{ lab:my-run-loss }}\n')
    user, run = student
    log_in(page, live_server, user.username)
    page.goto(live_server.url + lesson.get_absolute_url())
    page.wait_for_selector(".lab-tokenizer .lab-token")
    page.wait_for_selector(".lab-next-token .lab-pick")
    page.wait_for_selector(".lab-attention .lab-hm-cell")
    page.wait_for_selector(".lab-my-run-loss svg polyline")
    assert page.locator(".lab-embed .lab-widget-title").count() == 4
    assert page.locator(".lab-tokenizer select.lab-select").input_value() == str(run.code)


def test_the_loss_widget_draws_the_learning_rate_when_asked(page, live_server, transactional_db, make_lab_run):
    """Lesson 8: {{ lab:my-run-loss show="lr" }} adds the run's learning-rate curve under its loss."""
    from courses.models import Course, Lesson
    from tests.factories import make_user

    user = make_user("kenta")
    make_lab_run(user, name="lr-run", task="instruction", history=[
        {"step": s, "train_loss": 4.0 - s / 50, "val_loss": 4.1 - s / 60 if s % 10 == 0 else None,
         "lr": 5e-5 * min(1.0, s / 5) * (1 - s / 60)} for s in range(1, 51)])
    course = Course.objects.create(slug="lr-e2e", language="en", title="LR course", published=True, order=1)
    lesson = Lesson.objects.create(course=course, slug="08-lr", order=1, title="Schedule", summary="", published=True,
                                   body_md='## Try\n\n{{ lab:my-run-loss show="lr" }}\n')
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, user.username)
    page.goto(live_server.url + lesson.get_absolute_url())
    page.wait_for_selector(".lab-my-run-loss .lab-lr polyline.series-lr")
    assert page.locator(".lab-my-run-loss figure").count() == 2  # loss, then learning rate
    assert "e-5" in page.inner_text(".lab-my-run-loss .lab-lr")  # tick labels in scientific notation
    # An instruction run's held-out loss counts answers only: its legend says so.
    expect(page.locator(".lab-my-run-loss .lab-legend-val")).to_have_text(
        re.compile("held-out loss on answers|取っておいた会話の答えの損失"))
    assert errors == []


def test_a_logged_out_reader_is_asked_to_log_in(page, live_server, transactional_db):
    from courses.models import Course, Lesson

    course = Course.objects.create(slug="lab-e2e-anon", language="ja", title="Lab", published=True, order=1)
    lesson = Lesson.objects.create(course=course, slug="01-lab", order=1, title="Widgets", summary="", published=True,
                                   body_md='{{ lab:tokenizer text="東京" }}\n')
    page.goto(live_server.url + lesson.get_absolute_url())
    page.wait_for_selector(".lab-tokenizer .lab-notice a")
    assert "/accounts/login/?next=" in page.get_attribute(".lab-tokenizer .lab-notice a", "href")
