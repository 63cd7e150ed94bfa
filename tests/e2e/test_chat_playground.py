"""The chat playground of an instruction run, in headless Chromium: a student uploads
conversations, the run trains (in this process, as the job does), and the result page holds a
chat that keeps its history across turns. Photographed as a test artifact; the README's
docs/screenshots/chat-playground-{en,ja}.png are taken on a real site with the seeded course tutor."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageWatch, login
from tests.factories import FAST, PASSWORD, make_checked_dataset, make_instructions, make_user, upload

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_student_chats_with_an_instruction_run(page, live_server, seeded, settings, shoot, redis_conn,
                                                 inference_worker):
    from training import jobs, services
    from training.models import BaseModel

    settings.TRAINING_EXTRA_HYPERPARAMETERS = {**FAST, "block_size": 64, "max_steps": 40}
    student = make_user("kenta", preferred_language="en")
    dataset = make_checked_dataset(student, upload("tutor.jsonl", make_instructions(200).encode()))
    base = BaseModel.objects.filter(kind=BaseModel.SCRATCH, enabled=True).order_by("order").first()
    run = services.training_run_create(owner=student, dataset=dataset, base_model=base)
    assert jobs.run_training(run.pk, 1) == "succeeded"

    watch = PageWatch(page)
    login(page, live_server, "kenta", PASSWORD)
    page.goto(f"{live_server.url}/training/runs/{run.code}/")
    expect(page.locator("#samples-title")).to_have_text("Answers to held-out questions, before and after")
    chat = page.locator("#chat-panel")
    chat.locator("textarea[name=message]").fill("Repeat: the ship sailed over the sea")
    chat.locator("button[type=submit]").click()
    # Generation on a loaded 2-core machine: wait for the answer as long as a worker-backed page would.
    expect(page.locator(".chat-assistant")).to_have_count(1, timeout=60_000)
    page.locator("#chat-panel textarea[name=message]").fill("Repeat: the cook sang")
    page.locator("#chat-panel button[type=submit]").click()
    expect(page.locator(".chat-user")).to_have_count(2, timeout=60_000)
    expect(page.locator(".chat-assistant")).to_have_count(2, timeout=60_000)
    expect(page.locator(".chat-user").nth(0)).to_contain_text("Repeat: the ship sailed over the sea")
    page.locator("#playground-title").scroll_into_view_if_needed()
    page.locator("#samples-title").scroll_into_view_if_needed()
    shoot("chat-playground-en")
    watch.assert_clean()
