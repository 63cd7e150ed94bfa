"""Before submission nothing on the page tells a right choice from a wrong one."""
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from quizzes import services
from tests.factories import QUESTIONS
from tests.quizzes.conftest import speak, answers, as_post

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
EXPLANATIONS = [explanation for _, _, explanation, _ in QUESTIONS]


def assert_no_hint(page: str, quiz, language="en"):
    for explanation in EXPLANATIONS:
        assert explanation not in page
    with translation.override(language):
        badge = f"</span> {gettext('Correct')}</span>"  # the result page's right/wrong badges
        tags = [f'<span class="badge badge-ok">{gettext("Correct answer")}</span>', badge]
    review_only = ("is-correct", "is-wrong", "is-key", "is-selected", "quiz-mark", "quiz-explanation", "quiz-choice-tags")
    for needle in ("is_correct", "data-correct", "EXPLAIN", *review_only, *tags):
        assert needle not in page, needle
    # Only static scripts: no inline data a curious student could read.
    assert re.findall(r"<script[^>]*>", page) == [s for s in re.findall(r"<script[^>]*>", page) if "src=" in s]
    for question in quiz.questions.prefetch_related("choices"):
        items = re.findall(rf'<li><label class="quiz-choice"[^>]*><input[^>]*name="q{question.id}"[^>]*>.*?</li>', page, re.S)
        assert len(items) == question.choices.count()
        shapes = set()
        for item in items:
            shape = item
            for choice in question.choices.all():
                shape = shape.replace(f'value="{choice.id}"', 'value="ID"').replace(f">{choice.text}<", ">TEXT<")
            shapes.add(re.sub(r'id="?id_q\d+_\d+"?', "id=X", re.sub(r'for="id_q\d+_\d+"', "for=X", shape)))
        # Right and wrong choices are written exactly alike, apart from their id and text.
        assert len(shapes) == 1, shapes


@pytest.mark.parametrize("language", ["ja", "en"])
def test_take_page_holds_no_hint(alice_client, alice, quiz, language):
    speak(alice, language)
    attempt = services.attempt_start(student=alice, quiz=quiz)
    page = alice_client.get(reverse("quizzes:attempt_take", args=[attempt.code])).content.decode()
    assert "Which token comes next?" in page and f'<html lang="{language}">' in page
    assert_no_hint(page, quiz, language)
    assert 'checked' not in page


def test_form_shown_again_after_an_error_holds_no_hint(alice_client, alice, quiz):
    attempt = services.attempt_start(student=alice, quiz=quiz)
    selections = answers(quiz, right={1, 2})
    del selections[quiz.questions.get(order=3).id]
    page = alice_client.post(reverse("quizzes:attempt_submit", args=[attempt.code]), as_post(selections)).content.decode()
    assert_no_hint(page.replace(" checked", ""), quiz, "ja")


def test_list_intro_and_lesson_pages_hold_no_explanations(alice_client, alice, quiz):
    for url in (reverse("quizzes:list"), reverse("quizzes:detail", args=[quiz.pk]), quiz.lesson.get_absolute_url()):
        page = alice_client.get(url).content.decode()
        for explanation in EXPLANATIONS:
            assert explanation not in page


def test_the_script_knows_no_answers():
    script = (ROOT / "static" / "js" / "quizzes.js").read_text()
    assert "correct" not in script.replace("knows no answers", "") and "fetch(" not in script
