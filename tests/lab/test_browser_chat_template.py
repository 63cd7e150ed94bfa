"""The chat-template widget in headless Chromium, inside a lesson: the conversation of the tag
drawn as token chips, the answer's tokens highlighted and the others greyed, with the count;
editing a message or picking a preset redraws it; a logged-out reader is asked to log in.
Playwright's expect waits for each state (no sleeps)."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.lab.test_browser import log_in

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
EXAMPLES = {
    "en": ('{{ lab:chat-template user="What is a token?" assistant="A piece of text with its own id." }}',
           "20 tokens, 10 count toward the loss", 20, 10),
    "ja": ('{{ lab:chat-template user="トークンとは何ですか？" assistant="ID のついた文字列の断片です。" }}',
           "40 トークン、うち 22 トークンが損失に入ります", 40, 22),
}


def lesson_with(body: str, language: str, slug: str):
    from courses.models import Course, Lesson

    course = Course.objects.create(slug=slug, language=language, title="Chat", published=True, order=1)
    return Lesson.objects.create(course=course, slug="01-chat", order=1, title="Chat template", summary="",
                                 published=True, body_md=f"## Try\n\n{body}\n")


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_widget_draws_the_tokens_and_the_loss_mask(page, live_server, transactional_db, language):
    from tests.factories import make_user

    tag, count_text, total, counted = EXAMPLES[language]
    user = make_user("hanako")
    user.preferred_language = language
    user.save()
    lesson = lesson_with(tag, language, f"chat-{language}")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, user.username)
    page.goto(live_server.url + lesson.get_absolute_url())
    widget = page.locator(".lab-chat-template")
    expect(widget.locator(".lab-chat-count")).to_have_text(count_text)
    expect(widget.locator(".lab-chat-token")).to_have_count(total)
    expect(widget.locator(".lab-chat-token.counts")).to_have_count(counted)
    expect(widget.locator(".lab-chat-token.masked")).to_have_count(total - counted)
    # The last counted token is the closing <|end|>; the <|assistant|> marker is masked.
    expect(widget.locator(".lab-chat-token.counts").last.locator(".lab-token-text")).to_have_text("<|end|>")
    expect(widget.locator(".lab-chat-token.masked.special", has_text="<|assistant|>")).to_have_count(1)
    expect(widget.locator(".lab-chat-rendered")).to_contain_text("<|assistant|>")
    expect(widget.locator(".lab-legend .lab-chat-swatch")).to_have_count(3)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    widget.screenshot(path=str(ARTIFACTS / f"lab-chat-template-{language}.png"))
    # Editing the answer redraws; the preset menu then says "your own".
    widget.locator("textarea.lab-chat-assistant").fill("Yes.")
    expect(widget.locator(".lab-chat-token.counts")).to_have_count(3)  # "Yes", "." and <|end|>
    expect(widget.locator("select.lab-chat-preset")).to_have_value("custom")
    # The preset with a system message adds masked <|system|> tokens.
    widget.locator("select.lab-chat-preset").select_option("system")
    expect(widget.locator(".lab-chat-token.special", has_text="<|system|>")).to_have_count(1)
    expect(widget.locator(".lab-chat-token.counts[data-role=system]")).to_have_count(0)
    # Too long a message is refused with the server's message, in the page's language.
    widget.locator("textarea.lab-chat-user").evaluate("(box) => box.removeAttribute('maxlength')")
    widget.locator("textarea.lab-chat-user").fill("x" * 301)
    expect(widget.locator(".lab-error")).to_contain_text("300")
    assert errors == []


def test_a_logged_out_reader_is_asked_to_log_in(page, live_server, transactional_db):
    lesson = lesson_with('{{ lab:chat-template user="Hi" assistant="Hello." }}', "ja", "chat-anon")
    page.goto(live_server.url + lesson.get_absolute_url())
    link = page.locator(".lab-chat-template .lab-notice a")
    expect(link).to_have_attribute("href", re.compile(r"/accounts/login/\?next="))


def test_a_student_may_switch_to_their_own_models_tokenizer(page, live_server, transactional_db, make_lab_run):
    from tests.factories import make_user

    user = make_user("hanako")
    user.preferred_language = "en"
    user.save()
    run = make_lab_run(user, name="hanako-model")
    lesson = lesson_with(EXAMPLES["en"][0], "en", "chat-run")
    log_in(page, live_server, user.username)
    page.goto(live_server.url + lesson.get_absolute_url())
    widget = page.locator(".lab-chat-template")
    expect(widget.locator(".lab-chat-count")).to_have_text(EXAMPLES["en"][1])
    picker = widget.locator("select.lab-chat-tokenizer")
    expect(picker).to_be_visible()
    picker.select_option(str(run.code))
    expect(widget.locator(".muted", has_text="hanako-model")).to_contain_text("added with the next ids")
    widget.screenshot(path=str(ARTIFACTS / "lab-chat-template-run.png"))
    expect(widget.locator(".lab-chat-count")).not_to_have_text(EXAMPLES["en"][1])
    # Whatever the tokenizer, the answer's last token is the closing marker and it counts.
    expect(widget.locator(".lab-chat-token.counts").last.locator(".lab-token-text")).to_have_text("<|end|>")


def test_without_a_model_the_tokenizer_menu_stays_hidden(page, live_server, transactional_db):
    from tests.factories import make_user

    user = make_user("taro")
    lesson = lesson_with(EXAMPLES["ja"][0], "ja", "chat-nomodel")
    log_in(page, live_server, user.username)
    page.goto(live_server.url + lesson.get_absolute_url())
    widget = page.locator(".lab-chat-template")
    expect(widget.locator(".lab-chat-count")).to_have_text(EXAMPLES["ja"][1])
    expect(widget.locator("select.lab-chat-tokenizer")).to_be_hidden()
