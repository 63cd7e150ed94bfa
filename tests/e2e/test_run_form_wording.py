"""The new-run form words its help for the dataset chosen, in headless Chromium: choosing the
conversations swaps in the instruction run's help (htmx out-of-band swaps in the estimate's
response), choosing the text swaps the text run's back."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageWatch, login
from tests.factories import PASSWORD, make_base_model, make_checked_dataset, make_instructions, make_user, upload

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_run_forms_help_follows_the_dataset_chosen(page, live_server, transactional_db):
    make_base_model("tiny", order=1)
    student = make_user("kenta", preferred_language="en")
    text = make_checked_dataset(student, upload())
    chat = make_checked_dataset(student, upload("tutor.jsonl", make_instructions(80).encode()))

    watch = PageWatch(page)
    login(page, live_server, "kenta", PASSWORD)
    page.goto(f"{live_server.url}/training/runs/new/?dataset={text.code}")
    preset, prompts = page.locator("#preset-help"), page.locator("#id_sample_prompts_helptext")
    expect(preset).to_contain_text("picks up your text's style")
    expect(prompts).to_contain_text("continues the beginnings of a few lines of your text")
    page.select_option("select[name=dataset]", str(chat.code))
    expect(page.locator("#run-estimate")).to_contain_text("This is an instruction run.")
    expect(preset).to_contain_text("picks up the voice and the format of your answers")
    expect(prompts).to_contain_text("Each is asked as a question")
    expect(page.locator("#id_sample_prompts")).to_have_attribute("aria-describedby", "id_sample_prompts_helptext")
    page.select_option("select[name=dataset]", str(text.code))
    expect(page.locator("#run-estimate")).not_to_contain_text("This is an instruction run.")
    expect(preset).to_contain_text("picks up your text's style")
    expect(prompts).to_contain_text("continues the beginnings of a few lines of your text")
    expect(page.locator("#preset-help")).to_have_count(1)
    expect(page.locator("#id_sample_prompts_helptext")).to_have_count(1)
    watch.assert_clean()
