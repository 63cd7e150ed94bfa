"""seed_courses: idempotent, fast, and never overwrites what an instructor edited."""
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from courses.markdown import RENDERER_VERSION
from courses.models import Course, Lesson
from courses.seeding import COURSES, courses_seed

pytestmark = pytest.mark.django_db

LESSON = """---
title: {title}
summary: "A summary: with a colon"
minutes: 12
---

## Section

{body}

$$p(x)=\\prod_n p(s_n)$$

{{{{ lab:tokenizer text="hello" }}}}
"""


def write_lesson(root: Path, language: str, name: str, title: str, body: str = "Body text.") -> Path:
    path = root / language / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LESSON.format(title=title, body=body), encoding="utf-8")
    return path


@pytest.fixture
def seed_dir(tmp_path):
    write_lesson(tmp_path, "ja", "01-what-is-an-llm.md", "大規模言語モデルとは")
    write_lesson(tmp_path, "ja", "02-transformer.md", "Transformer のしくみ")
    write_lesson(tmp_path, "en", "01-what-is-an-llm.md", "What is a large language model?")
    write_lesson(tmp_path, "en", "02-transformer.md", "The Transformer")
    return tmp_path


def counts():
    return Course.objects.count(), Lesson.objects.count()


def test_seeding_creates_one_published_course_per_language(seed_dir):
    report = courses_seed(seed_dir=seed_dir)
    assert report.created == 4
    ja = Course.objects.get(language="ja")
    en = Course.objects.get(language="en")
    assert (ja.slug, ja.title, ja.published) == (COURSES["ja"]["slug"], "LLM をつくって学ぶ", True)
    assert (en.title, en.published) == ("Build and understand LLMs", True)
    lesson = ja.lessons.get(slug="01-what-is-an-llm")
    assert (lesson.title, lesson.summary, lesson.minutes, lesson.order, lesson.published, lesson.language) == (
        "大規模言語モデルとは", "A summary: with a colon", 12, 1, True, "ja")
    assert lesson.body_md.startswith("## Section") and "<math" in lesson.body_html and "lab-embed" in lesson.body_html
    assert list(en.lessons.order_by("order").values_list("slug", flat=True)) == ["01-what-is-an-llm", "02-transformer"]


def test_seeding_twice_changes_nothing(seed_dir):
    courses_seed(seed_dir=seed_dir)
    before = counts(), list(Lesson.objects.values_list("id", "updated_at"))
    report = courses_seed(seed_dir=seed_dir)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert (counts(), list(Lesson.objects.values_list("id", "updated_at"))) == before


def test_an_instructors_edit_survives_a_reseed_even_when_the_file_changes(seed_dir):
    courses_seed(seed_dir=seed_dir)
    lesson = Lesson.objects.get(course__language="ja", slug="01-what-is-an-llm")
    lesson.body_md += "\n\nAn instructor's note."
    lesson.save()
    write_lesson(seed_dir, "ja", "01-what-is-an-llm.md", "大規模言語モデルとは（改訂）", "New seed text.")
    report = courses_seed(seed_dir=seed_dir)
    assert report.kept_edited == 1
    lesson.refresh_from_db()
    assert lesson.body_md.endswith("An instructor's note.") and lesson.title == "大規模言語モデルとは"


def test_an_unedited_lesson_follows_its_seed_file(seed_dir):
    courses_seed(seed_dir=seed_dir)
    lesson = Lesson.objects.get(course__language="en", slug="02-transformer")
    lesson.order, lesson.published = 7, False  # moving or hiding a lesson is not editing its text
    lesson.save()
    write_lesson(seed_dir, "en", "02-transformer.md", "The Transformer, revised", "Revised text.")
    report = courses_seed(seed_dir=seed_dir)
    assert report.updated == 1
    lesson.refresh_from_db()
    assert lesson.title == "The Transformer, revised" and "Revised text." in lesson.body_html
    assert (lesson.order, lesson.published) == (7, False)
    assert courses_seed(seed_dir=seed_dir).unchanged == 4


def test_saving_a_seeded_lesson_unchanged_from_a_browser_is_not_an_edit(seed_dir):
    courses_seed(seed_dir=seed_dir)
    lesson = Lesson.objects.get(course__language="ja", slug="02-transformer")
    lesson.body_md = lesson.body_md.replace("\n", "\r\n") + "\r\n"  # what a textarea submits
    lesson.save()
    write_lesson(seed_dir, "ja", "02-transformer.md", "Transformer のしくみ", "Updated upstream.")
    assert courses_seed(seed_dir=seed_dir).updated == 1


def test_missing_lessons_and_courses_are_created_again_without_touching_the_course(seed_dir):
    courses_seed(seed_dir=seed_dir)
    course = Course.objects.get(language="ja")
    course.title = "My own course title"
    course.save()
    Lesson.objects.get(course=course, slug="02-transformer").delete()
    write_lesson(seed_dir, "ja", "03-tokenization.md", "トークン化")
    report = courses_seed(seed_dir=seed_dir)
    assert report.created == 2
    course.refresh_from_db()
    assert course.title == "My own course title"
    assert course.lessons.get(slug="03-tokenization").order == 3


def test_lessons_rendered_by_an_older_renderer_are_refreshed(seed_dir):
    courses_seed(seed_dir=seed_dir)
    Lesson.objects.update(rendered_version=0, body_html="stale")
    report = courses_seed(seed_dir=seed_dir)
    assert report.rerendered == 4
    assert not Lesson.objects.filter(body_html="stale").exists()
    assert set(Lesson.objects.values_list("rendered_version", flat=True)) == {RENDERER_VERSION}


def test_the_command_reports_and_rejects_broken_files(seed_dir, capsys):
    call_command("seed_courses", seed_dir=seed_dir)
    assert "4 created" in capsys.readouterr().out
    write_lesson(seed_dir, "en", "03-a-new-lesson.md", "New")  # sorted before the broken file
    (seed_dir / "en" / "03-broken.md").write_text("no front matter", encoding="utf-8")
    with pytest.raises(CommandError, match="03-broken.md"):
        call_command("seed_courses", seed_dir=seed_dir)
    assert Lesson.objects.count() == 4  # nothing half-done: the new lesson was rolled back


def test_bootstrap_calls_the_seed_and_the_real_seed_files_load():
    from llmschool.accounts.management.commands.bootstrap import SEED_COMMANDS

    assert "seed_courses" in SEED_COMMANDS
    call_command("seed_courses")  # the real seed files: must load without error
    assert Course.objects.filter(slug=COURSES["ja"]["slug"]).exists()
