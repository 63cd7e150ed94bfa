"""HTML and script in every text field a student or an instructor can fill, rendered escaped
on every page that shows it (the site and the admin).

The fields are found from the models: every editable CharField/TextField of the app models
(slugs, e-mails, choices and machine codes aside) gets a payload with its own number, then
the test crawls every page as a student and the admin pages as an instructor. A raw payload
anywhere fails; a payload shown nowhere fails too (so the crawl cannot miss a field silently).
"""
import re

import pytest
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse

from tests.abuse.conftest import fake_archive, make_run
from tests.abuse.urlmap import build_path, site_routes
from tests.factories import make_user

# A payload that reached the page as markup (escaped text starts with &lt; instead).
RAW = re.compile(r"<svg onload=alert\('xss-|<script>alert\('xss-|<img src=x onerror=|href=\"?javascript:", re.I)
# Values that are identifiers, not prose: a person never types them into a page.
NOT_PROSE = {"preset", "rq_job_id", "error_code", "seed_key", "seed_hash", "key", "slug", "body_html", "password",
             "username", "email", "language", "kind", "status", "preferred_language"}
# Fields shown to nobody (kept for instructors in the admin's technical blocks at most).
SHOWN_NOWHERE_OK = {"TrainingRun.error_detail"}


def payload(number: int, max_length: int | None = None) -> str:
    text = f"<svg onload=alert('xss-{number}')>\"'<script>alert('xss-{number}')</script><img src=x onerror=alert('xss-{number}')>"
    if max_length and len(text) > max_length:
        text = f"<svg onload=alert('xss-{number}')>\""[:max_length]
    return text


def prose_fields(model) -> list:
    return [f for f in model._meta.get_fields()
            if isinstance(f, (models.CharField, models.TextField)) and f.editable and not f.choices
            and not isinstance(f, (models.SlugField, models.EmailField, models.FileField)) and f.name not in NOT_PROSE]


@pytest.fixture
def poisoned(db, media, settings):
    """Every prose field of every object the site shows, filled with a numbered payload."""
    from courses.models import Course, Lesson
    from quizzes import services as quiz_services
    from quizzes.models import Choice, Question, Quiz
    from training.models import BaseModel, Dataset, TrainingRun
    from tests.abuse.conftest import make_dataset

    settings.TRAINING_RUNS_DIR = media / "runs"
    alice = make_user("alice")
    carol = make_user("carol", instructor=True)
    course = Course.objects.create(slug="xss-ja", language="ja", title="t", published=True)
    lesson = Lesson.objects.create(course=course, slug="01-xss", order=1, title="t", published=True)
    quiz = Quiz.objects.create(lesson=lesson, title="t", pass_mark=50, shuffle_choices=False)
    question = Question.objects.create(quiz=quiz, order=1, text="t", explanation="e")
    right = Choice.objects.create(question=question, text="a", is_correct=True, order=1)
    Choice.objects.create(question=question, text="b", is_correct=False, order=2)
    scratch = BaseModel.objects.create(key="scratch-tiny", name="n", kind=BaseModel.SCRATCH, source="tiny")
    missing = BaseModel.objects.create(key="hub-missing", name="n", kind=BaseModel.PRETRAINED, source="x")
    sample = make_dataset(None, name="s")
    Dataset.objects.filter(pk=sample.pk).update(is_sample=True, published=True)
    sample.refresh_from_db()
    own = make_dataset(alice, name="d")
    run = make_run(alice, own, scratch, status=TrainingRun.SUCCEEDED, archive=fake_archive(),
                   samples=[{"prompt": "p", "base": "b", "tuned": "t"}])
    failed = make_run(alice, own, scratch, status=TrainingRun.FAILED, error_code="internal")

    objects = [alice, course, lesson, quiz, question, right, scratch, missing, sample, own, run, failed]
    payloads, number = {}, 0
    for obj in objects:
        for field in prose_fields(type(obj)):
            if isinstance(obj, BaseModel) and obj is scratch and field.name == "source":
                continue  # a scratch preset name must stay valid; the missing hub base carries the payload
            number += 1
            setattr(obj, field.name, payload(number, field.max_length))
            payloads[number] = f"{type(obj).__name__}.{field.name}"
        obj.save()
    # Lesson Markdown: the payload also in a heading (the table of contents), a link, an image and a lab tag.
    number += 1
    payloads[number] = "Lesson.body_md (heading, link, image, lab tag)"
    lesson.body_md += (f"\n\n## Heading {payload(number)}\n\n[click](javascript:alert('xss-{number}'))\n\n"
                       f"![img](javascript:alert('xss-{number}'))\n\n"
                       f"{{{{ lab:tokenizer text=\"\\\"><script>alert('xss-{number}')</script>\" }}}}\n")
    lesson.save()
    # The run's samples (model output is text from training data: a student controls it).
    number += 1
    payloads[number] = "TrainingRun.samples"
    run.samples = [{"prompt": payload(number), "base": payload(number), "tuned": payload(number)}]
    run.log_lines = [payload(number)]
    run.save()
    attempt = quiz_services.attempt_start(student=alice, quiz=quiz)
    quiz_services.attempt_submit(attempt=attempt, selections={question.id: [right.id]})
    open_attempt = quiz_services.attempt_start(student=alice, quiz=quiz)
    return {"alice": alice, "carol": carol, "payloads": payloads, "run": run, "failed": failed, "course": course,
            "lesson": lesson, "quiz": quiz, "attempt": attempt, "open_attempt": open_attempt, "dataset": own,
            "sample": sample, "objects": objects}


def student_pages(p) -> list[str]:
    values = {"course_slug": p["course"].slug, "lesson_slug": p["lesson"].slug, "quiz_id": p["quiz"].pk,
              "token": "not-a-valid-token"}  # the e-mail confirmation page, as a refused link shows it
    pages = []
    for route in site_routes():
        if not route.name or route.name in ("logout", "password_reset_confirm"):
            continue
        if route.uuid_params:
            if route.route.startswith("training/datasets"):
                codes = [p["dataset"].code, p["sample"].code]
            elif route.route.startswith("quizzes/attempts"):
                codes = [p["attempt"].code, p["open_attempt"].code]
            else:
                codes = [p["run"].code, p["failed"].code]
            pages += [build_path(route, {**values, "code": code}) for code in codes]
        else:
            pages.append(build_path(route, values))
    pages.append(reverse("training:compare") + f"?a={p['run'].code}&b={p['failed'].code}")
    pages.append(reverse("training:run_new") + "?preset=quick")
    return pages


def admin_pages(p) -> list[str]:
    pages = ["/admin/"]
    for obj in p["objects"]:
        meta = obj._meta
        if meta.app_label == "accounts" or not admin.site.is_registered(type(obj)):
            continue
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
    pages.append(reverse("admin:courses_lesson_preview", args=[p["lesson"].pk]))
    return pages


def crawl(client, paths, method="get", data=None) -> dict[str, str]:
    bodies = {}
    for path in paths:
        response = getattr(client, method)(path, data) if data else getattr(client, method)(path)
        if response.status_code >= 500 and not (response.get("Content-Type", "").startswith("application/json")
                                                and b'"error"' in response.content):
            raise AssertionError(f"{path}: {response.status_code}")  # (the lab answers a broken model with JSON)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        kind = "json" if response.get("Content-Type", "").startswith("application/json") else "html"
        bodies[path] = (kind, content.decode("utf-8", "replace"))
    return bodies


def test_every_text_field_is_rendered_escaped_everywhere(poisoned, inference_worker):
    p = poisoned
    student, instructor = Client(), Client()
    student.force_login(p["alice"])
    instructor.force_login(p["carol"])
    bodies = crawl(student, student_pages(p))
    bodies.update({f"admin {k}": v for k, v in crawl(instructor, admin_pages(p)).items()})
    # The playground echoes the prompt back (the model itself is fake here, so the inference worker
    # reports an error).
    playground = reverse("training:run_playground", args=[p["run"].code])
    bodies.update(crawl(student, [playground], "post", {"prompt": payload(999), "temperature": 1, "top_k": 5,
                                                         "top_p": 1, "max_new_tokens": 5}))
    p["payloads"][999] = "playground prompt"

    # JSON is data, not markup (served as application/json with nosniff); the scripts that
    # show it never parse it as HTML (test_scripts_never_parse_data_as_html).
    raw = {path: RAW.findall(body)[:3] for path, (kind, body) in bodies.items() if kind == "html" and RAW.search(body)}
    assert raw == {}, "unescaped HTML from a text field"
    shown_nowhere = [field for number, field in p["payloads"].items() if field not in SHOWN_NOWHERE_OK
                     and not any(re.search(rf"xss-{number}(?!\d)", body) for _kind, body in bodies.values())]
    assert shown_nowhere == [], "fields the crawl never saw rendered (add the page to the crawl)"


def test_lesson_markdown_keeps_only_safe_markup(poisoned):
    html = poisoned["lesson"].body_html
    assert "xss-" in html  # the payloads are there, as text
    assert not RAW.search(html)
    assert not re.search(r"<(script|svg|iframe|object)\b", html, re.I)
    assert not re.search(r"<[^>]+\son\w+\s*=", html, re.I), "an event handler attribute survived"
    assert not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", html, re.I)
    for tag in re.findall(r"<div [^>]*lab-embed[^>]*>", html):
        attributes = set(re.findall(r"\s([a-z-]+)=", tag))
        assert attributes <= {"class", "data-lab", "data-text", "data-prompt"}, tag


def test_scripts_never_parse_data_as_html():
    """The site's own scripts build the DOM from API data with textContent and elements only."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "static" / "js"
    sinks = re.compile(r"\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(")
    found = {str(path.relative_to(root)): sinks.findall(path.read_text()) for path in root.rglob("*.js")
             if "vendor" not in path.parts and sinks.search(path.read_text())}
    assert found == {}
