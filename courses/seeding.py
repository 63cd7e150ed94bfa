"""Load the seeded course from courses/seed/<lang>/<NN>-<slug>.md, idempotently.

Runs on every `make run`, so it must be cheap when nothing changed (one query per course,
no rendering) and must never overwrite an instructor's edit. Each seeded lesson keeps the
hash of the file it was loaded from; a changed file updates the lesson only while the
lesson's content still hashes to that value, i.e. nobody has edited it in the admin.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from courses.markdown import RENDERER_VERSION
from courses.models import Course, Lesson

SEED_DIR = Path(__file__).resolve().parent / "seed"
FILENAME = re.compile(r"^(?P<order>\d+)-[a-z0-9-]+\.md$")

# One course per language; edited freely in the admin afterwards (never overwritten here).
COURSES = {
    "ja": {
        "slug": "build-llms-ja",
        "title": "LLM をつくって学ぶ",
        "description": (
            "次のトークン予測から Transformer、トークン化、転移学習、ファインチューニング、デコーディング、"
            "指示チューニング、学習の仕組み、推論、GPT-2 以後のモデル、評価まで。読んで、手を動かして確かめ、"
            "自分の GPT-2 を学習させます。"
        ),
        "order": 1,
    },
    "en": {
        "slug": "build-llms-en",
        "title": "Build and understand LLMs",
        "description": (
            "From next-token prediction to the Transformer, tokenization, transfer learning, fine-tuning, "
            "decoding, instruction tuning, training mechanics, inference, the models after GPT-2 and "
            "evaluation. Read, experiment with live widgets, and train your own GPT-2."
        ),
        "order": 2,
    },
}


class SeedError(Exception):
    pass


@dataclass(frozen=True)
class SeedLesson:
    slug: str
    order: int
    title: str
    summary: str
    minutes: int
    body: str

    @property
    def hash(self) -> str:
        return content_hash(title=self.title, summary=self.summary, minutes=self.minutes, body=self.body)


@dataclass
class SeedReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_edited: int = 0
    rerendered: int = 0

    def __str__(self):
        return (f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.kept_edited} kept (edited by an instructor), {self.rerendered} re-rendered")


def normalise_text(text: str) -> str:
    # Browsers submit textareas with CRLF and Django strips form input: compare like with like.
    return text.replace("\r\n", "\n").strip()


def content_hash(*, title: str, summary: str, minutes: int, body: str) -> str:
    payload = json.dumps([normalise_text(title), normalise_text(summary), int(minutes), normalise_text(body)])
    return hashlib.sha256(payload.encode()).hexdigest()


def lesson_content_hash(lesson: Lesson) -> str:
    return content_hash(title=lesson.title, summary=lesson.summary, minutes=lesson.minutes, body=lesson.body_md)


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """`---` delimited `key: value` lines, parsed like courses/seed/check_seed.py does."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise SeedError("must start with a '---' front matter line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise SeedError("front matter is not closed by a second '---' line") from None
    meta = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip().strip('"').strip("'")
    return meta, "\n".join(lines[end + 1:])


def read_seed_lesson(path: Path) -> SeedLesson:
    match = FILENAME.match(path.name)
    if not match:
        raise SeedError(f"{path}: file name must look like 01-some-slug.md")
    try:
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        minutes = int(meta.get("minutes") or 10)
    except (SeedError, ValueError) as exc:
        raise SeedError(f"{path}: {exc}") from exc
    if not meta.get("title"):
        raise SeedError(f"{path}: front matter has no title")
    return SeedLesson(slug=path.stem, order=int(match.group("order")), title=meta["title"],
                      summary=meta.get("summary", ""), minutes=minutes, body=normalise_text(body))


def _seed_course(language: str, paths: list[Path], report: SeedReport) -> None:
    spec = COURSES[language]
    course, _ = Course.objects.get_or_create(
        slug=spec["slug"],
        defaults={"language": language, "title": spec["title"], "description": spec["description"],
                  "order": spec["order"], "published": True},
    )
    existing = {lesson.slug: lesson for lesson in course.lessons.all()}
    for path in paths:
        seed = read_seed_lesson(path)
        lesson = existing.get(seed.slug)
        if lesson is None:
            Lesson.objects.create(course=course, slug=seed.slug, order=seed.order, title=seed.title,
                                  summary=seed.summary, minutes=seed.minutes, body_md=seed.body,
                                  published=True, seed_hash=seed.hash)
            report.created += 1
        elif lesson.seed_hash == seed.hash:
            report.unchanged += 1
        elif lesson.seed_hash and lesson_content_hash(lesson) == lesson.seed_hash:
            lesson.title, lesson.summary, lesson.minutes, lesson.body_md = (
                seed.title, seed.summary, seed.minutes, seed.body)
            lesson.seed_hash = seed.hash
            lesson.save()
            report.updated += 1
        else:
            report.kept_edited += 1


def courses_seed(*, seed_dir: Path = SEED_DIR, languages=tuple(COURSES)) -> SeedReport:
    report = SeedReport()
    with transaction.atomic():
        for language in languages:
            paths = sorted((seed_dir / language).glob("*.md"))
            if paths:
                _seed_course(language, paths, report)
        # Lessons rendered by an older renderer (any lesson, seeded or not) get fresh HTML.
        for lesson in Lesson.objects.exclude(rendered_version=RENDERER_VERSION).select_related("course"):
            lesson.save(update_fields=[])
            report.rerendered += 1
    return report
