"""The /lab/ page in both languages, with and without models, and the strings for lab.js."""
import json
import re

import pytest
from django.urls import reverse


def strings_blob(html: str) -> dict:
    match = re.search(r'<script id="lab-strings" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the lab-strings json_script blob is missing"
    return json.loads(match.group(1))


def set_language(user, language):
    user.preferred_language = language
    user.save(update_fields=["preferred_language"])


@pytest.mark.parametrize("language, empty, button", [
    ("ja", "探索できるモデルがまだありません。", "クイックモデルを訓練する"),
    ("en", "You have no model to explore yet.", "Train a quick model"),
])
def test_without_models_the_page_says_how_to_make_one(client, alice, language, empty, button):
    set_language(alice, language)
    client.force_login(alice)
    html = client.get(reverse("lab:index")).content.decode()
    assert f'<html lang="{language}">' in html
    assert empty in html and button in html
    assert f'href="{reverse("training:run_new")}?preset=quick"' in html
    assert 'data-lab="tokenizer"' in html and 'data-lab="next-token"' in html and 'data-lab="attention"' in html
    assert "data-lab-model-select" not in html
    assert strings_blob(html)["urls"]["tokenize"] == reverse("lab:api_tokenize")


def test_the_picker_lists_own_runs_then_the_demo(alice_client, alice, make_lab_run, demo_run):
    own = make_lab_run(alice, name="my-haiku-model")
    html = alice_client.get(reverse("lab:index")).content.decode()
    options = re.findall(r'<option value="([0-9a-f-]{36})"', html)
    assert options == [str(own.code), str(demo_run.code)]
    assert re.search(rf'<option value="{own.code}"\s+selected', html)
    assert "my-haiku-model" in html and "クイックモデルを訓練する" not in html.split("lab-models")[1].split("</section>")[0]


def test_only_the_demo_suggests_training_your_own(alice_client, demo_run):
    html = alice_client.get(reverse("lab:index")).content.decode()
    assert re.findall(r'<option value="([0-9a-f-]{36})"', html) == [str(demo_run.code)]
    assert "これはサイトのデモモデルです" in html


def test_a_model_can_be_preselected_but_not_another_students(client, bob, alice_run, demo_run, make_lab_run):
    own = make_lab_run(bob)
    client.force_login(bob)
    html = client.get(reverse("lab:index"), {"model": str(demo_run.code)}).content.decode()
    assert re.search(rf'<option value="{demo_run.code}"\s+selected', html)
    html = client.get(reverse("lab:index"), {"model": str(alice_run.code)}).content.decode()
    assert f'<option value="{alice_run.code}"' not in html
    assert re.search(rf'<option value="{own.code}"\s+selected', html)


def test_the_page_needs_a_login(client, db):
    response = client.get(reverse("lab:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_no_inline_script_only_the_json_blob_and_lab_js(alice_client):
    html = alice_client.get(reverse("lab:index")).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    inline = [attrs for attrs, body in scripts if body.strip() and 'type="application/json"' not in attrs]
    assert inline == []
    assert 'src="/static/js/lab.js"' in html


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_widget_string_is_translated(client, alice, language):
    from training.lab.strings import lab_strings

    set_language(alice, language)
    client.force_login(alice)
    texts = strings_blob(client.get(reverse("lab:index")).content.decode())["text"]
    assert texts.keys() == lab_strings()["text"].keys()
    japanese = [value for value in texts.values() if re.search(r"[\u3000-\u30ff\u4e00-\u9fff]", value)]
    if language == "ja":
        assert len(japanese) == len(texts), [v for v in texts.values() if v not in japanese]
    else:
        assert japanese == []


def test_a_lesson_with_widgets_loads_the_lab(client, alice):
    from courses.models import Course, Lesson

    course = Course.objects.create(slug="lab-course", language="ja", title="Course", published=True, order=1)
    lesson = Lesson.objects.create(course=course, slug="01-tokens", order=1, title="Tokens", summary="",
                                   body_md='## Try\n\n{{ lab:tokenizer text="東京メトロ" }}\n', published=True)
    client.force_login(alice)
    html = client.get(lesson.get_absolute_url()).content.decode()
    assert '<div class="lab-embed" data-lab="tokenizer" data-text="東京メトロ"></div>' in html
    assert strings_blob(html)["text"]["tok_title"] == "トークナイザー探検"
    assert 'src="/static/js/lab.js"' in html and "/static/css/lab.css" in html
