"""Load the seeded quizzes from quizzes/seed/<lang>/<NN>-<slug>.json, idempotently.

Same rule as the course seed (courses/seeding.py): each seeded quiz keeps the hash of the
file it was loaded from, and a changed file updates the quiz only while the quiz's content
(title, pass mark, questions, choices) still hashes to that value, i.e. nobody edited it.
Updates go question by question in place, so students' past answers keep their questions.
Runs on every `make run`: when nothing changed it costs three queries.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from courses.models import Lesson
from quizzes.models import Choice, Question, Quiz

SEED_DIR = Path(__file__).resolve().parent / "seed"
LANGUAGES = ("ja", "en")


class SeedError(Exception):
    pass


@dataclass
class SeedReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_edited: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self):
        text = (f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.kept_edited} kept (edited by an instructor)")
        return text + "".join(f"\n  skipped {problem}" for problem in self.problems)


def _text(value) -> str:
    # Browsers submit textareas with CRLF and Django strips form input: compare like with like.
    return str(value).replace("\r\n", "\n").strip()


def canonical(data: dict) -> dict:
    """The parts of a quiz that the seed owns, in one normal form (from a file or the database)."""
    return {
        "title": _text(data["title"]),
        "pass_mark": int(data["pass_mark"]),
        "questions": [
            {"text": _text(q["text"]), "kind": q["kind"], "explanation": _text(q.get("explanation", "")),
             "choices": [{"text": _text(c["text"]), "correct": bool(c["correct"])} for c in q["choices"]]}
            for q in data["questions"]
        ],
    }


def content_hash(data: dict) -> str:
    payload = json.dumps(canonical(data), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def quiz_as_data(quiz: Quiz) -> dict:
    """The quiz in seed-file form; questions and choices must be prefetched for speed."""
    return {
        "title": quiz.title, "pass_mark": quiz.pass_mark,
        "questions": [
            {"text": q.text, "kind": q.kind, "explanation": q.explanation,
             "choices": [{"text": c.text, "correct": c.is_correct} for c in q.choices.all()]}
            for q in quiz.questions.all()
        ],
    }


def validate(data) -> None:
    """Enough checking that a broken file can never load a quiz nobody can pass."""
    if not isinstance(data, dict) or not isinstance(data.get("title"), str) or not data["title"].strip():
        raise SeedError("'title' missing")
    mark = data.get("pass_mark")
    if not isinstance(mark, int) or isinstance(mark, bool) or not 1 <= mark <= 100:
        raise SeedError("'pass_mark' must be an integer 1-100")
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise SeedError("'questions' must be a non-empty list")
    for number, q in enumerate(questions, 1):
        if not isinstance(q, dict) or not _text(q.get("text", "")):
            raise SeedError(f"question {number} has no text")
        if q.get("kind") not in (Question.SINGLE, Question.MULTIPLE):
            raise SeedError(f"question {number}: kind must be 'single' or 'multiple'")
        choices = q.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise SeedError(f"question {number} needs at least two choices")
        if not all(isinstance(c, dict) and _text(c.get("text", "")) and isinstance(c.get("correct"), bool)
                   for c in choices):
            raise SeedError(f"question {number}: every choice needs 'text' and 'correct': true/false")
        correct = sum(c["correct"] for c in choices)
        if q["kind"] == Question.SINGLE and correct != 1:
            raise SeedError(f"question {number}: a single-choice question needs exactly one correct choice")
        if correct < 1:
            raise SeedError(f"question {number}: no correct choice")


def read_seed_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        validate(data)
    except (OSError, ValueError, SeedError) as exc:
        raise SeedError(f"{path.parent.name}/{path.name}: {exc}") from exc
    return canonical(data)


def _create_content(quiz: Quiz, data: dict) -> None:
    questions = Question.objects.bulk_create(
        Question(quiz=quiz, order=position, kind=q["kind"], text=q["text"], explanation=q["explanation"])
        for position, q in enumerate(data["questions"], 1))
    Choice.objects.bulk_create(
        Choice(question=question, text=c["text"], is_correct=c["correct"], order=index)
        for question, q in zip(questions, data["questions"]) for index, c in enumerate(q["choices"], 1))


def _update_content(quiz: Quiz, data: dict) -> None:
    """Make the quiz's questions and choices equal `data`, updating rows in place by position."""
    questions = list(quiz.questions.all())
    for position, q in enumerate(data["questions"]):
        if position < len(questions):
            question = questions[position]
            question.order, question.kind, question.text, question.explanation = (
                position + 1, q["kind"], q["text"], q["explanation"])
            question.save()
        else:
            question = Question.objects.create(quiz=quiz, order=position + 1, kind=q["kind"], text=q["text"],
                                               explanation=q["explanation"])
        choices = list(question.choices.all())
        for index, c in enumerate(q["choices"]):
            if index < len(choices):
                choice = choices[index]
                choice.text, choice.is_correct, choice.order = c["text"], c["correct"], index + 1
                choice.save()
            else:
                Choice.objects.create(question=question, text=c["text"], is_correct=c["correct"], order=index + 1)
        Choice.objects.filter(pk__in=[choice.pk for choice in choices[len(q["choices"]):]]).delete()
    Question.objects.filter(pk__in=[question.pk for question in questions[len(data["questions"]):]]).delete()


def quizzes_seed(*, seed_dir: Path = SEED_DIR, languages=LANGUAGES) -> SeedReport:
    report = SeedReport()
    files = [(language, path) for language in languages for path in sorted((seed_dir / language).glob("*.json"))]
    if not files:
        return report
    lessons = {(lesson.language, lesson.slug): lesson
               for lesson in Lesson.objects.filter(language__in=languages).order_by("course__order", "id")
               .reverse()}  # reversed: the first course of a language wins
    quizzes = {quiz.lesson_id: quiz for quiz in
               Quiz.objects.filter(lesson__in=[lesson.id for lesson in lessons.values()])
               .prefetch_related("questions__choices")}
    with transaction.atomic():
        for language, path in files:
            lesson = lessons.get((language, path.stem))
            if lesson is None:
                report.problems.append(f"{language}/{path.name}: no {language} lesson with the slug {path.stem!r}")
                continue
            try:
                data = read_seed_file(path)
            except SeedError as exc:
                report.problems.append(str(exc))
                continue
            seed_hash = content_hash(data)
            quiz = quizzes.get(lesson.id)
            if quiz is None:
                quiz = Quiz.objects.create(lesson=lesson, title=data["title"], pass_mark=data["pass_mark"],
                                           seed_hash=seed_hash)
                _create_content(quiz, data)
                report.created += 1
            elif quiz.seed_hash == seed_hash:
                report.unchanged += 1
            elif quiz.seed_hash and content_hash(quiz_as_data(quiz)) == quiz.seed_hash:
                quiz.title, quiz.pass_mark, quiz.seed_hash = data["title"], data["pass_mark"], seed_hash
                quiz.save(update_fields=["title", "pass_mark", "seed_hash", "updated_at"])
                _update_content(quiz, data)
                report.updated += 1
            else:
                report.kept_edited += 1
    return report
