"""Catalog, course page, lesson page, progress, and what students may not see."""
import pytest
from django.test import Client
from django.urls import reverse

from courses.models import LessonProgress
from tests.factories import make_course, make_lesson

pytestmark = pytest.mark.django_db


def lesson_url(lesson):
    return reverse("courses:lesson", args=[lesson.course.slug, lesson.slug])


def test_catalog_lists_the_ui_language_first_and_the_other_language_too(client, course, course_en):
    page = client.get(reverse("courses:catalog"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.index("Build and understand LLMs") < page.index("Course llm-ja")
    assert "Also available in other languages" in page
    page = client.get(reverse("courses:catalog"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert page.index("Course llm-ja") < page.index("Build and understand LLMs")
    assert "ほかの言語のコース" in page


def test_catalog_hides_unpublished_courses_from_students(alice_client, course):
    make_course("secret", title="Secret course", published=False)
    assert "Secret course" not in alice_client.get(reverse("courses:catalog")).content.decode()


def test_lesson_page_shows_toc_body_navigation_and_assets(client, course):
    first, second, third = course.lessons.order_by("order")
    second.body_md = "## Self-attention\n\n$$\\frac{QK^\\top}{\\sqrt{d_k}}$$\n\n### Worked example\n\ntext"
    second.save()
    page = client.get(lesson_url(second)).content.decode()
    assert '<a href="#self-attention">Self-attention</a>' in page
    assert '<a href="#worked-example">Worked example</a>' in page
    assert '<h2 id="self-attention">' in page and "<mfrac>" in page
    assert f'href="{lesson_url(first)}"' in page and f'href="{lesson_url(third)}"' in page
    assert "/static/js/lab.js" in page and "/static/css/lab.css" in page and "/static/css/pygments.css" in page
    assert 'id="lab-strings"' in page and 'id="quiz"' in page
    assert "第 2 回（全 3 回）" in page


def test_first_and_last_lessons_have_one_neighbour(client, course):
    first, second, third = course.lessons.order_by("order")
    page = client.get(lesson_url(first)).content.decode()
    assert 'class="pager-prev"' not in page and f'class="pager-next" href="{lesson_url(second)}"' in page
    page = client.get(lesson_url(third)).content.decode()
    assert f'class="pager-prev" href="{lesson_url(second)}"' in page and 'class="pager-next"' not in page


def test_opening_a_lesson_records_that_it_was_viewed(alice_client, alice, course):
    lesson = course.lessons.first()
    alice_client.get(lesson_url(lesson))
    progress = LessonProgress.objects.get(user=alice, lesson=lesson)
    first_view = progress.viewed_at
    assert first_view is not None and progress.completed_at is None
    alice_client.get(lesson_url(lesson))
    progress.refresh_from_db()
    assert progress.viewed_at == first_view  # the first visit is kept


def test_anonymous_visitors_can_read_but_nothing_is_recorded(client, course):
    response = client.get(lesson_url(course.lessons.first()))
    assert response.status_code == 200
    assert "ログインすると、このレッスンを完了にして" in response.content.decode()
    assert not LessonProgress.objects.exists()


def test_marking_a_lesson_complete(alice_client, alice, course):
    lesson = course.lessons.order_by("order").first()
    url = reverse("courses:lesson_complete", args=[course.slug, lesson.slug])
    response = alice_client.post(url)
    assert response.status_code == 302 and response["Location"] == lesson_url(lesson) + "#lesson-complete"
    progress = LessonProgress.objects.get(user=alice, lesson=lesson)
    assert progress.completed_at is not None and progress.viewed_at is not None
    completed = progress.completed_at
    alice_client.post(url)
    progress.refresh_from_db()
    assert progress.completed_at == completed
    page = alice_client.get(lesson_url(lesson)).content.decode()
    assert "このレッスンを完了しました" in page and "完了にする</button>" not in page


def test_complete_needs_post_and_a_login(alice_client, course):
    lesson = course.lessons.first()
    url = reverse("courses:lesson_complete", args=[course.slug, lesson.slug])
    assert alice_client.get(url).status_code == 405
    response = Client().post(url)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not LessonProgress.objects.exists()


def test_course_page_shows_the_students_progress(alice_client, alice, bob, course):
    first, second, third = course.lessons.order_by("order")
    alice_client.post(reverse("courses:lesson_complete", args=[course.slug, first.slug]))
    alice_client.get(lesson_url(second))
    LessonProgress.objects.create(user=bob, lesson=third, completed_at="2026-01-01T00:00Z")  # not alice's
    page = alice_client.get(reverse("courses:detail", args=[course.slug])).content.decode()
    assert "1<span class=\"stat-of\"> / 3</span>" in page
    assert 'aria-valuenow="1"' in page and 'style="width: 33%"' in page
    assert page.count("lesson-item lesson-completed") == 1
    assert page.count("lesson-item lesson-viewed") == 1
    assert page.count("lesson-item lesson-new") == 1
    assert f'href="{lesson_url(second)}">続きから学ぶ' in page.replace('<a class="btn btn-primary" ', "")


@pytest.mark.parametrize("who", ["anonymous", "student"])
def test_unpublished_lessons_and_courses_are_404_for_students(client, alice, course, who):
    if who == "student":
        client.force_login(alice)
    draft = make_lesson("04-draft", course=course, order=4, published=False, title="Draft lesson")
    hidden = make_course("hidden", published=False)
    hidden_lesson = make_lesson("01-x", course=hidden)
    assert client.get(lesson_url(draft)).status_code == 404
    assert client.get(reverse("courses:detail", args=[hidden.slug])).status_code == 404
    assert client.get(lesson_url(hidden_lesson)).status_code == 404
    if who == "student":
        response = client.post(reverse("courses:lesson_complete", args=[course.slug, draft.slug]))
        assert response.status_code == 404
    assert "Draft lesson" not in client.get(reverse("courses:detail", args=[course.slug])).content.decode()


def test_instructors_preview_unpublished_lessons(client, carol, course):
    client.force_login(carol)
    draft = make_lesson("04-draft", course=course, order=4, published=False, title="Draft lesson")
    page = client.get(lesson_url(draft)).content.decode()
    assert "下書き: このレッスンは受講者には表示されていません。" in page
    assert reverse("admin:courses_lesson_change", args=[draft.id]) in page
    assert "Draft lesson" in client.get(reverse("courses:detail", args=[course.slug])).content.decode()


def test_unknown_slugs_are_404(client, course):
    assert client.get(reverse("courses:detail", args=["nope"])).status_code == 404
    assert client.get(reverse("courses:lesson", args=[course.slug, "nope"])).status_code == 404


def test_lessons_follow_their_course_language(course):
    course.language = "en"
    course.save()
    assert set(course.lessons.values_list("language", flat=True)) == {"en"}
    assert set(type(course).objects.get(pk=course.pk).lessons.values_list("language", flat=True)) == {"en"}
