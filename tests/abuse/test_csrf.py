"""Cross-site request forgery: every route of the site refuses a POST without a CSRF token
(403) and changes nothing; every POST form the site renders carries the token."""
import re

import pytest
from django.test import Client

from tests.abuse.urlmap import build_path, site_routes

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
POST_FORM = re.compile(r"""method\s*=\s*["']?post""", re.I)


def sample_values(route, world) -> dict:
    """Concrete values for a route's parameters, taken from Alice's own things."""
    values = {}
    for name in route.params:
        if name == "code":
            if route.route.startswith("training/datasets"):
                values[name] = world.dataset.code
            elif route.route.startswith("quizzes/attempts"):
                values[name] = world.attempt_open.code
            else:
                values[name] = world.run_running.code
        elif name == "quiz_id":
            values[name] = world.quiz.pk
        elif name == "course_slug":
            values[name] = world.course.slug
        elif name == "lesson_slug":
            values[name] = world.lesson.slug
        elif name in ("uidb64", "token"):
            values[name] = "x"
        else:
            raise AssertionError(f"no sample value for {name} in {route.route}: add one here")
    return values


def routes():
    return [route for route in site_routes() if route.name]


def state(world):
    from courses.models import LessonProgress
    from quizzes.models import Attempt
    from training.models import Dataset, TrainingRun

    return (
        sorted(TrainingRun.objects.values_list("code", "status", "cancel_requested_at", "name")),
        sorted(Dataset.objects.values_list("code", "name")),
        sorted(Attempt.objects.values_list("code", "submitted_at")),
        LessonProgress.objects.filter(completed_at__isnull=False).count(),
        world.alice.__class__.objects.get(pk=world.alice.pk).preferred_language,
    )


@pytest.mark.parametrize("route", routes(), ids=lambda r: r.name)
def test_a_post_without_a_csrf_token_is_refused(world, route):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    before = state(world)
    path = build_path(route, sample_values(route, world))
    response = client.post(path, {"language": "en", "name": "forged", "prompt": "x"})
    assert response.status_code == 403, f"POST {path} without a CSRF token gave {response.status_code}"
    assert state(world) == before


def test_anonymous_login_and_signup_posts_need_the_token(db):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403
    assert client.post("/accounts/signup/", {"username": "x"}).status_code == 403


def test_the_same_post_with_the_token_is_accepted(world):
    """Control: the 403 above is about the missing token, not the request."""
    from courses.models import LessonProgress

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    page = client.get(world.lesson.get_absolute_url())
    token = page.cookies["csrftoken"].value
    path = build_path(next(r for r in routes() if r.name == "courses:lesson_complete"),
                      {"course_slug": world.course.slug, "lesson_slug": world.lesson.slug})
    response = client.post(path, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert LessonProgress.objects.filter(user=world.alice, completed_at__isnull=False).count() == 1


def get_pages(world):
    for route in routes():
        yield route, build_path(route, sample_values(route, world))


def test_every_post_form_on_every_page_carries_the_token(world):
    """A form without {% csrf_token %} would 403 for real users: crawl each GET page (as
    Alice, on her own objects) and look at every POST form."""
    from training.models import TrainingRun

    client = Client()
    client.force_login(world.alice)
    extra = [world.run_succeeded.get_absolute_url() if hasattr(TrainingRun, "get_absolute_url") else
             f"/training/runs/{world.run_succeeded.code}/", f"/quizzes/attempts/{world.attempt_done.code}/result/"]
    checked, missing = 0, []
    paths = [path for _route, path in get_pages(world)] + extra
    for path in paths:
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for form in FORM.findall(response.content.decode()):
            if POST_FORM.search(form.split(">", 1)[0]):
                checked += 1
                if "csrfmiddlewaretoken" not in form:
                    missing.append((path, form[:120]))
    assert checked >= 5, f"only {checked} POST forms found: the crawl is not reaching the pages"
    assert missing == []
