"""A new student's whole first session, in headless Chromium against a live server, the
suite's Redis and a real training worker: sign up (Japanese by default), switch language,
study a lesson, fail then pass its quiz, upload a text, queue a quick run, watch the
progress page update without a reload, see it succeed, prompt the model, open the lab,
download the archive and load it with transformers. Every main page is photographed."""
import io
import re
import urllib.parse
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageWatch
from tests.factories import FAST, PASSWORD, make_text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LESSON = "/courses/build-llms-ja/01-what-is-an-llm/"


def quiz_answers(lesson_slug="01-what-is-an-llm", language="ja"):
    """{question field name: (right choice ids, a wrong choice id)} from the seeded quiz."""
    from quizzes.models import Quiz

    quiz = Quiz.objects.get(lesson__slug=lesson_slug, lesson__course__language=language)
    answers = {}
    for question in quiz.questions.prefetch_related("choices"):
        right = [c.id for c in question.choices.all() if c.is_correct]
        wrong = next(c.id for c in question.choices.all() if not c.is_correct)
        answers[f"q{question.id}"] = (right, wrong)
    return answers


def answer_quiz(page, answers, *, correctly):
    for name, (right, wrong) in answers.items():
        for choice in (right if correctly else [wrong]):
            page.check(f"input[name={name}][value='{choice}']")
    page.click("form.quiz-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/result/$"))


def test_a_student_from_sign_up_to_a_downloaded_model(page, live_server, seeded, fault_worker, start_worker,
                                                      inference_worker, settings,
                                                      shoot, tmp_path):
    settings.TRAINING_EXTRA_HYPERPARAMETERS = {**FAST, "checkpoint_every_steps": 25}
    watch = PageWatch(page)
    url = live_server.url

    # Sign up: the site speaks Japanese to a new visitor.
    page.goto(url + "/")
    assert page.get_attribute("html", "lang") == "ja"
    shoot("home-ja")
    page.goto(url + "/accounts/signup/")
    page.fill("input[name=username]", "hanako")
    page.fill("input[name=email]", "hanako@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    shoot("signup-ja")
    page.click("main button[type=submit]")
    page.wait_for_url(url + "/dashboard/")
    shoot("dashboard-ja")

    # Switch to English and back: the choice sticks to the profile.
    page.select_option("#lang-select", "en")
    wait_until(lambda: page.get_attribute("html", "lang") == "en", "the page in English")
    assert "Dashboard" in page.inner_text("nav")
    shoot("dashboard-en")
    page.select_option("#lang-select", "ja")
    wait_until(lambda: page.get_attribute("html", "lang") == "ja", "the page in Japanese again")
    from llmschool.accounts.models import User

    assert User.objects.get(username="hanako").preferred_language == "ja"

    # Study the first lesson and mark it complete.
    page.click("nav >> text=コース")
    shoot("catalog-ja")
    page.goto(url + LESSON)
    assert page.locator(".lesson-body h2").count() >= 2
    shoot("lesson-ja")
    shoot("lesson-ja-window", full_page=False)
    page.click("#lesson-complete button[type=submit]")
    page.wait_for_selector("#lesson-complete .complete-done")
    from courses.models import LessonProgress

    assert LessonProgress.objects.filter(user__username="hanako", completed_at__isnull=False).count() == 1

    # The quiz: a wrong answer first, then a pass.
    answers = quiz_answers()
    page.click("#quiz form.quiz-start-form button")
    page.wait_for_selector("form.quiz-form")
    shoot("quiz-take-ja")
    answer_quiz(page, answers, correctly=False)
    assert page.locator(".quiz-score.is-failed").count() == 1
    shoot("quiz-result-failed-ja")
    page.click(".quiz-score-actions form button")
    page.wait_for_selector("form.quiz-form")
    answer_quiz(page, answers, correctly=True)
    assert page.locator(".quiz-score.is-passed").count() == 1
    assert "100" in page.inner_text(".quiz-score-value")
    shoot("quiz-result-passed-ja")

    # Upload a text and queue a quick run on the tiny from-scratch model.
    corpus = tmp_path / "my-diary.txt"
    corpus.write_text(make_text(260, seed=3), encoding="utf-8")
    start_worker("default")  # the dataset check runs there, not in the upload request
    page.goto(url + "/training/datasets/")
    shoot("datasets-ja")
    page.set_input_files("input[name=file]", str(corpus))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/training/datasets/[0-9a-f-]{36}/$"))
    assert "my-diary" in page.inner_text("main")
    # "Checking…" until the worker is done; then the page reloads itself with the figures.
    page.wait_for_selector("#figures-title", timeout=120_000)
    shoot("dataset-detail-ja")
    # The run is held at two evaluations, so the page is seen to update on any machine.
    fault_worker(hold=["eval:5", "eval:10"])
    page.goto(url + "/training/runs/new/?preset=quick")
    page.select_option("select[name=base]", "base:tiny")
    page.click("details.advanced summary")
    # The estimate follows the form as the student types (and never carries the CSRF token in its URL).
    for field, value in (("max_steps", "150"), ("name", "はじめてのモデル")):
        with page.expect_response(lambda r: "/training/runs/estimate/" in r.url
                                  and urllib.parse.quote(value) in r.url) as estimate:
            page.fill(f"input[name={field}]", value)
        assert "csrfmiddlewaretoken" not in estimate.value.url
    page.wait_for_selector("#run-estimate:has-text('150')")
    shoot("run-new-ja")
    page.click("#run-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/training/runs/[0-9a-f-]{36}/$"))
    run_url = page.url

    # The progress page updates itself: the step rises while the page stays the same page.
    page.evaluate("document.body.dataset.journeyMarker = 'same-page'")
    for point, step in (("eval:5", 5), ("eval:10", 10)):
        fault_worker.held(point)
        expect(page.locator("[data-field=step]")).to_have_text(re.compile(rf"^\s*{step}\b"), timeout=30_000)
        expect(page.locator("#run-progress")).to_have_attribute("data-status", "running")
        fault_worker.release(point)
    assert page.evaluate("document.body.dataset.journeyMarker") == "same-page", "the page was reloaded"
    shoot("run-progress-ja")
    page.wait_for_selector("#run-progress[data-status=succeeded]", timeout=150_000)
    assert page.url == run_url
    page.wait_for_selector(".loss-chart svg polyline")
    shoot("run-result-ja")

    # The playground answers with the student's model.
    page.fill("textarea[name=prompt]", "the ship")
    page.click(".playground button[type=submit]")
    page.wait_for_selector("#playground-result mark")
    assert page.inner_text("#playground-result .generation-prompt") == "the ship"
    shoot("playground-ja")

    # The lab opens the student's own model.
    page.goto(url + "/lab/")
    page.wait_for_selector(".lab-tokenizer .lab-token")
    page.wait_for_selector(".lab-next-token .lab-pick")
    assert "はじめてのモデル" in page.inner_text("#lab-model")
    shoot("lab-ja")
    shoot("lab-ja-window", full_page=False)

    # Download the archive: it unzips and loads with transformers, and generates.
    page.goto(run_url)
    with page.expect_download() as download_info:
        page.click("a[href$='/download/']")
    download = download_info.value
    assert re.fullmatch(r"llmschool-[0-9a-f-]{36}\.zip", download.suggested_filename)
    archive = open(download.path(), "rb").read()
    text = load_and_generate(archive, tmp_path / "unzipped")
    assert text.startswith("the ship") and len(text) > len("the ship")

    # The same pages in English.
    page.select_option("#lang-select", "en")
    wait_until(lambda: page.get_attribute("html", "lang") == "en", "English")
    shoot("run-result-en")
    page.goto(url + "/courses/build-llms-en/01-what-is-an-llm/")
    shoot("lesson-en")
    page.goto(url + "/lab/")
    page.wait_for_selector(".lab-next-token .lab-pick")
    shoot("lab-en")
    shoot("lab-en-window", full_page=False)
    page.goto(url + "/dashboard/")
    shoot("dashboard-after-en")
    page.goto(url + "/training/")
    shoot("runs-en")

    watch.assert_clean()


def wait_until(predicate, message, timeout=15.0):
    from tests.conftest import wait_for

    wait_for(predicate, timeout=timeout, interval=0.1, message=message)


def load_and_generate(archive: bytes, target) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
        assert all("/" not in name and ".." not in name for name in names)
        zf.extractall(target)
    model = AutoModelForCausalLM.from_pretrained(str(target), local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(target), local_files_only=True)
    inputs = tokenizer("the ship", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert output.shape[1] > inputs["input_ids"].shape[1]
    return tokenizer.decode(output[0], skip_special_tokens=True)
