"""Admin for instructors: courses with their lessons, lesson editing with a rendered preview."""
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from courses import services
from courses.models import Course, Lesson, LessonProgress


class LessonInline(admin.TabularInline):
    model = Lesson
    fields = ("order", "title", "slug", "minutes", "published", "edit_link")
    readonly_fields = ("edit_link",)
    extra = 0
    show_change_link = False
    ordering = ("order", "id")

    @admin.display(description=_("lesson text"))
    def edit_link(self, lesson):
        if not lesson.pk:
            return ""
        return format_html('<a href="{}">{}</a>', reverse("admin:courses_lesson_change", args=[lesson.pk]),
                           _("Edit the text"))


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "language", "slug", "order", "published", "lesson_count")
    list_editable = ("order", "published")
    list_filter = ("language", "published")
    search_fields = ("title", "description", "slug")
    prepopulated_fields = {"slug": ("title",)}
    inlines = (LessonInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(lesson_total=models.Count("lessons"))

    @admin.display(description=_("number of lessons"), ordering="lesson_total")
    def lesson_count(self, course):
        return course.lesson_total

    def view_on_site(self, course):
        return course.get_absolute_url()


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "order", "published", "minutes", "updated_at", "preview_link")
    list_display_links = ("title",)
    list_editable = ("order", "published")
    list_filter = ("course", "language", "published")
    list_select_related = ("course",)
    search_fields = ("title", "summary", "body_md", "slug")
    ordering = ("course", "order", "id")
    actions = ("publish", "unpublish")
    fields = ("course", "title", "slug", "order", "summary", "minutes", "published", "body_md")
    change_form_template = "courses/admin/lesson_change_form.html"
    save_on_top = True

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "body_md":
            field.widget.attrs.update({"rows": 32, "class": "lesson-markdown", "spellcheck": "false"})
        elif db_field.name == "summary":
            field.widget.attrs.update({"rows": 3})
        return field

    @admin.display(description=_("preview"))
    def preview_link(self, lesson):
        url = reverse("admin:courses_lesson_preview", args=[lesson.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("Preview"))

    def view_on_site(self, lesson):
        return lesson.get_absolute_url()

    @admin.action(description=_("Publish the selected lessons"), permissions=["change"])
    def publish(self, request, queryset):
        changed = services.lessons_set_published(lessons=queryset, published=True)
        self.message_user(request, ngettext("%d lesson published.", "%d lessons published.", changed) % changed,
                          messages.SUCCESS)

    @admin.action(description=_("Unpublish the selected lessons"), permissions=["change"])
    def unpublish(self, request, queryset):
        changed = services.lessons_set_published(lessons=queryset, published=False)
        self.message_user(request, ngettext("%d lesson unpublished.", "%d lessons unpublished.", changed) % changed,
                          messages.SUCCESS)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("<int:lesson_id>/preview/", preview, name="courses_lesson_preview"),
                path("preview/", preview, name="courses_lesson_preview_unsaved")] + super().get_urls()

    def preview_view(self, request, lesson_id=None):
        """The lesson as students will see it. POST renders the form's unsaved text (nothing is saved)."""
        saved = get_object_or_404(Lesson.objects.select_related("course"), pk=lesson_id) if lesson_id else None
        if not self.has_view_or_change_permission(request, saved):
            raise PermissionDenied
        if request.method == "POST":
            lesson = _lesson_from_form(request.POST, saved)
        elif saved is None:
            raise Http404("Nothing to preview")
        else:
            lesson = saved
        return TemplateResponse(request, "courses/admin/lesson_preview.html", {
            "lesson": lesson, "course": lesson.course, "unsaved": request.method == "POST", "title": _("Preview"),
        })


def _lesson_from_form(data, saved: Lesson | None) -> Lesson:
    """An unsaved Lesson built from the change form's fields, rendered like a saved one."""
    course = Course.objects.filter(pk=_int_or(data.get("course"), 0)).first()
    if course is None:
        course = saved.course if saved else Course(title="", language=get_language())
    lesson = Lesson(course=course, title=data.get("title", ""), summary=data.get("summary", ""),
                    body_md=data.get("body_md", "").replace("\r\n", "\n"), minutes=_int_or(data.get("minutes"), 10),
                    published=bool(data.get("published")))
    lesson.render()
    return lesson


def _int_or(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@admin.register(LessonProgress)
class LessonProgressAdmin(admin.ModelAdmin):
    list_display = ("user", "lesson", "viewed_at", "completed_at")
    list_filter = ("lesson__course", ("completed_at", admin.EmptyFieldListFilter))
    list_select_related = ("user", "lesson")
    search_fields = ("user__username", "lesson__title")
    raw_id_fields = ("user", "lesson")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
