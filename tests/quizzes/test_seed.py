"""seed_quizzes: idempotent, fast, and it never overwrites an instructor's edit."""
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courses.models import Course, Lesson
from quizzes import services
from quizzes.models import Answer, Choice, Quiz
from quizzes.seeding import SEED_DIR, quizzes_seed
from tests.factories import make_lesson
from tests.quizzes.conftest import answers

pytestmark = pytest.mark.django_db


def quiz_file(title="Seed quiz", n=3, pass_mark=70, explanation="Because."):
    return {"title": title, "pass_mark": pass_mark, "questions": [
        {"text": f"Question {i}?", "kind": "multiple" if i == n else "single", "explanation": f"{explanation} {i}",
         "choices": [{"text": "Right", "correct": True}, {"text": "Also right", "correct": i == n},
                     {"text": "Wrong", "correct": False}]}
        for i in range(1, n + 1)]}


@pytest.fixture
def seed_dir(tmp_path):
    for language in ("ja", "en"):
        (tmp_path / language).mkdir()
        make_lesson("01-intro", language=language)
        make_lesson("02-next", language=language)
    write(tmp_path, "en", "01-intro", quiz_file("Intro quiz"))
    write(tmp_path, "en", "02-next", quiz_file("Next quiz"))
    write(tmp_path, "ja", "01-intro", quiz_file("入門クイズ"))
    return tmp_path


def write(seed_dir: Path, language, slug, data):
    (seed_dir / language / f"{slug}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def content(quiz):
    return [(q.order, q.kind, q.text, q.explanation, [(c.order, c.text, c.is_correct) for c in q.choices.all()])
            for q in quiz.questions.prefetch_related("choices")]


def test_first_run_creates_every_quiz_on_its_lesson(seed_dir):
    report = quizzes_seed(seed_dir=seed_dir)
    assert (report.created, report.updated, report.unchanged, report.kept_edited) == (3, 0, 0, 0)
    quiz = Quiz.objects.get(lesson__language="ja", lesson__slug="01-intro")
    assert quiz.title == "入門クイズ" and quiz.pass_mark == 70 and quiz.published and quiz.seed_hash
    assert content(quiz)[2] == (3, "multiple", "Question 3?", "Because. 3",
                                [(1, "Right", True), (2, "Also right", True), (3, "Wrong", False)])
    assert not Quiz.objects.filter(lesson__language="ja", lesson__slug="02-next").exists()


def test_second_run_changes_nothing_and_only_reads(seed_dir):
    quizzes_seed(seed_dir=seed_dir)
    snapshot = [(q.pk, q.updated_at, content(q)) for q in Quiz.objects.all()]
    with CaptureQueriesContext(connection) as queries:
        report = quizzes_seed(seed_dir=seed_dir)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert [(q.pk, q.updated_at, content(q)) for q in Quiz.objects.all()] == snapshot
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == [] and len(queries) <= 6


def test_a_changed_file_updates_an_untouched_quiz_in_place(seed_dir, alice):
    quizzes_seed(seed_dir=seed_dir)
    quiz = Quiz.objects.get(lesson__language="en", lesson__slug="01-intro")
    attempt = services.attempt_start(student=alice, quiz=quiz)
    services.attempt_submit(attempt=attempt, selections=answers(quiz, right={1, 2, 3}))
    first_question = quiz.questions.get(order=1).pk

    write(seed_dir, "en", "01-intro", quiz_file("Intro quiz, revised", n=2, pass_mark=60, explanation="Since"))
    report = quizzes_seed(seed_dir=seed_dir)
    assert (report.updated, report.unchanged) == (1, 2)
    quiz.refresh_from_db()
    assert (quiz.title, quiz.pass_mark) == ("Intro quiz, revised", 60)
    assert [q[3] for q in content(quiz)] == ["Since 1", "Since 2"]
    assert content(quiz)[1][1] == "multiple"
    # The question kept its row, so the student's answer to it is still there.
    assert quiz.questions.get(order=1).pk == first_question
    assert Answer.objects.filter(attempt=attempt).count() == 2
    assert quizzes_seed(seed_dir=seed_dir).unchanged == 3

    grown = quiz_file("Intro quiz, longer", n=4)
    grown["questions"][0]["choices"].append({"text": "A fourth choice", "correct": False})
    write(seed_dir, "en", "01-intro", grown)
    assert quizzes_seed(seed_dir=seed_dir).updated == 1
    assert [len(q[4]) for q in content(quiz)] == [4, 3, 3, 3]
    assert content(quiz)[3][2] == "Question 4?"


@pytest.mark.parametrize("edit", ["title", "pass_mark", "question", "choice", "new choice", "deleted question"])
def test_an_edited_quiz_is_never_overwritten(seed_dir, edit):
    quizzes_seed(seed_dir=seed_dir)
    quiz = Quiz.objects.get(lesson__language="en", lesson__slug="01-intro")
    question = quiz.questions.get(order=1)
    if edit == "title":
        quiz.title = "My own title"
        quiz.save()
    elif edit == "pass_mark":
        quiz.pass_mark = 80
        quiz.save()
    elif edit == "question":
        question.explanation = "A better explanation, written by the instructor."
        question.save()
    elif edit == "choice":
        Choice.objects.filter(question=question, text="Wrong").update(text="A trickier wrong answer")
    elif edit == "new choice":
        Choice.objects.create(question=question, text="Another distractor", order=9)
    else:
        question.delete()
    quiz.refresh_from_db()
    edited = ((quiz.title, quiz.pass_mark), content(quiz))

    write(seed_dir, "en", "01-intro", quiz_file("Intro quiz v2", pass_mark=50, explanation="New"))
    report = quizzes_seed(seed_dir=seed_dir)
    assert (report.kept_edited, report.updated) == (1, 0)
    quiz.refresh_from_db()
    assert ((quiz.title, quiz.pass_mark), content(quiz)) == edited


def test_unpublishing_is_not_an_edit_and_is_kept(seed_dir):
    quizzes_seed(seed_dir=seed_dir)
    Quiz.objects.filter(lesson__language="en", lesson__slug="01-intro").update(published=False)
    write(seed_dir, "en", "01-intro", quiz_file("Intro quiz v2"))
    assert quizzes_seed(seed_dir=seed_dir).updated == 1
    quiz = Quiz.objects.get(lesson__language="en", lesson__slug="01-intro")
    assert quiz.title == "Intro quiz v2" and not quiz.published


def test_quizzes_made_in_the_admin_are_left_alone(seed_dir):
    lesson = Lesson.objects.get(language="en", slug="01-intro")
    quiz = Quiz.objects.create(lesson=lesson, title="Made by hand")
    report = quizzes_seed(seed_dir=seed_dir)
    assert report.kept_edited == 1
    quiz.refresh_from_db()
    assert quiz.title == "Made by hand" and not quiz.questions.exists()


def test_broken_and_orphan_files_are_reported_and_skipped(seed_dir):
    bad = quiz_file()
    bad["questions"][0]["choices"][1]["correct"] = True  # single choice with two correct answers
    write(seed_dir, "ja", "02-next", bad)
    write(seed_dir, "en", "09-missing", quiz_file())
    (seed_dir / "en" / "03-broken.json").write_text("{not json", encoding="utf-8")
    make_lesson("03-broken", language="en")
    out = StringIO()
    call_command("seed_quizzes", "--seed-dir", str(seed_dir), stdout=out)
    text = out.getvalue()
    assert "3 created" in text
    assert "ja/02-next.json: question 1" in text and "09-missing" in text and "03-broken.json" in text
    assert Quiz.objects.count() == 3


def test_the_shipped_seed_files_load(db):
    """Every file in quizzes/seed loads onto the seeded course, twice without changes."""
    call_command("seed_courses", stdout=StringIO())
    report = quizzes_seed()
    files = list(SEED_DIR.glob("*/*.json"))
    assert report.problems == [] and report.created == len(files) > 0
    assert quizzes_seed().unchanged == len(files)
    for quiz in Quiz.objects.all():
        assert quiz.questions.count() >= 5
        assert all(q.explanation for q in quiz.questions.all())
    assert Course.objects.filter(lessons__quiz__isnull=False).distinct().count() == 2
