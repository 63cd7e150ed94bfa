"""Instructors (staff in "Instructors", not superusers) run the course in the admin; students cannot."""
import pytest
from django.test import Client
from django.urls import reverse

from courses.models import Lesson
from tests.factories import make_lesson

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol_client(carol):
    client = Client()
    client.force_login(carol)
    return client


def change_form_data(lesson, **changes):
    data = {"course": lesson.course_id, "title": lesson.title, "slug": lesson.slug, "order": lesson.order,
            "summary": lesson.summary, "minutes": lesson.minutes, "body_md": lesson.body_md,
            "published": "on" if lesson.published else "", "_save": "Save"}
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_the_instructor_is_not_a_superuser(carol):
    assert carol.is_staff and not carol.is_superuser and carol.is_instructor


def test_an_instructors_edit_shows_on_the_site_at_once(carol_client, alice_client, course):
    lesson = course.lessons.order_by("order").first()
    url = lesson.get_absolute_url()
    assert "Brand new paragraph" not in alice_client.get(url).content.decode()

    response = carol_client.post(reverse("admin:courses_lesson_change", args=[lesson.id]), change_form_data(
        lesson, title="改訂した第 1 回", body_md="## Fresh section\r\n\r\nBrand new paragraph with $e^{x}$."))
    assert response.status_code == 302, response.content.decode()[:2000]

    page = alice_client.get(url).content.decode()
    assert "改訂した第 1 回" in page and "Brand new paragraph" in page
    assert '<a href="#fresh-section">Fresh section</a>' in page and "<msup>" in page


def test_an_instructor_adds_a_draft_lesson_then_publishes_it(carol_client, alice_client, course):
    response = carol_client.post(reverse("admin:courses_lesson_add"), {
        "course": course.id, "title": "Extra lesson", "slug": "04-extra", "order": 4, "summary": "More.",
        "minutes": 5, "body_md": "## Extra\n\nHello.", "_save": "Save"})
    assert response.status_code == 302
    lesson = Lesson.objects.get(slug="04-extra")
    assert lesson.published is False and lesson.language == "ja" and '<h2 id="extra">' in lesson.body_html
    assert alice_client.get(lesson.get_absolute_url()).status_code == 404

    changelist = reverse("admin:courses_lesson_changelist")
    carol_client.post(changelist, {"action": "publish", "_selected_action": [lesson.id]})
    assert alice_client.get(lesson.get_absolute_url()).status_code == 200
    carol_client.post(changelist, {"action": "unpublish", "_selected_action": [lesson.id]})
    assert alice_client.get(lesson.get_absolute_url()).status_code == 404


def test_instructors_reorder_lessons_from_the_list(carol_client, alice_client, course):
    first, second, third = course.lessons.order_by("order")
    rows = [(third, 1), (first, 2), (second, 3)]
    data = {"form-TOTAL_FORMS": "3", "form-INITIAL_FORMS": "3", "_save": "Save"}
    changelist = reverse("admin:courses_lesson_changelist")
    # The formset follows the changelist's ordering (course, order, id).
    for index, lesson in enumerate((first, second, third)):
        new_order = dict((item.id, order) for item, order in rows)[lesson.id]
        data.update({f"form-{index}-id": lesson.id, f"form-{index}-order": new_order, f"form-{index}-published": "on"})
    response = carol_client.post(changelist, data)
    assert response.status_code == 302
    page = alice_client.get(course.get_absolute_url()).content.decode()
    assert page.index(third.title) < page.index(first.title) < page.index(second.title)


def test_list_filters_and_search(carol_client, course, course_en):
    make_lesson("09-attention", course=course, order=9, title="Attention in detail", published=False)
    changelist = reverse("admin:courses_lesson_changelist")
    page = carol_client.get(changelist, {"q": "Attention"}).content.decode()
    assert "Attention in detail" in page and "第 1 回" not in page
    page = carol_client.get(changelist, {"language__exact": "en"}).content.decode()
    assert "Lesson 1" in page and "第 1 回" not in page
    page = carol_client.get(changelist, {"published__exact": "0"}).content.decode()
    assert "Attention in detail" in page and "第 2 回" not in page
    page = carol_client.get(changelist, {"course__id__exact": course_en.id}).content.decode()
    assert "Lesson 2" in page and "第 2 回" not in page


def test_course_admin_shows_the_lessons_inline(carol_client, course):
    page = carol_client.get(reverse("admin:courses_course_change", args=[course.id])).content.decode()
    assert "第 3 回" in page and reverse("admin:courses_lesson_change", args=[course.lessons.first().id]) in page


def test_the_preview_shows_the_rendered_lesson_with_the_site_styles(carol_client, course):
    lesson = course.lessons.first()
    lesson.published = False
    lesson.body_md = "## Preview me\n\n$$x^2$$"
    lesson.save()
    page = carol_client.get(reverse("admin:courses_lesson_preview", args=[lesson.id])).content.decode()
    assert '<h2 id="preview-me">' in page and "<msup>" in page
    assert "/static/css/courses.css" in page and "/static/css/pygments.css" in page
    assert "下書き: このレッスンは受講者には表示されていません。" in page


def test_previewing_unsaved_text_saves_nothing(carol_client, course):
    lesson = course.lessons.first()
    before = lesson.body_md
    url = reverse("admin:courses_lesson_preview", args=[lesson.id])
    page = carol_client.post(url, change_form_data(lesson, body_md="## Not yet saved\n\n<script>x</script>")).content.decode()
    assert '<h2 id="not-yet-saved">' in page and "&lt;script&gt;" in page
    assert "保存前の変更のプレビューです" in page
    lesson.refresh_from_db()
    assert lesson.body_md == before
    new = carol_client.post(reverse("admin:courses_lesson_preview_unsaved"),
                            {"course": course.id, "title": "Draft", "body_md": "## New lesson"}).content.decode()
    assert '<h2 id="new-lesson">' in new and not Lesson.objects.filter(title="Draft").exists()


def test_the_change_form_offers_preview_and_markdown_help(carol_client, course):
    lesson = course.lessons.first()
    page = carol_client.get(reverse("admin:courses_lesson_change", args=[lesson.id])).content.decode()
    assert f'formaction="{reverse("admin:courses_lesson_preview", args=[lesson.id])}"' in page
    assert "lab:tokenizer" in page and "Markdown" in page  # the help text


@pytest.mark.parametrize("name, args", [
    ("admin:index", []),
    ("admin:courses_lesson_changelist", []),
    ("admin:courses_lesson_add", []),
    ("admin:courses_course_changelist", []),
])
def test_students_cannot_use_the_admin(alice_client, course, name, args):
    response = alice_client.get(reverse(name, args=args))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_students_cannot_preview_or_edit(alice_client, course):
    lesson = course.lessons.first()
    preview = alice_client.get(reverse("admin:courses_lesson_preview", args=[lesson.id]))
    assert preview.status_code == 302 and preview["Location"].startswith(reverse("admin:login"))
    alice_client.post(reverse("admin:courses_lesson_change", args=[lesson.id]), change_form_data(lesson, title="Hacked"))
    lesson.refresh_from_db()
    assert lesson.title != "Hacked"


def test_staff_without_course_permissions_cannot_preview(client, course):
    from tests.factories import make_user

    staff = make_user("dave", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:courses_lesson_preview", args=[course.lessons.first().id])).status_code == 403
