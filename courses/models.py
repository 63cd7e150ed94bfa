from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from courses.markdown import RENDERER_VERSION, render_markdown

MARKDOWN_HELP = _(
    "Markdown. Start sections with ## (the title is shown above the text). "
    "The cheat sheet below the form lists tables, code, math, figures and lab widgets. Raw HTML is shown as text."
)


class CourseQuerySet(models.QuerySet):
    def published(self):
        return self.filter(published=True)

    def language_first(self, language: str):
        """Courses in `language` before the others, then in their usual order."""
        first = Case(When(language=language, then=Value(0)), default=Value(1), output_field=IntegerField())
        return self.alias(language_rank=first).order_by("language_rank", "order", "title")


class Course(models.Model):
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="ja")
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)
    published = models.BooleanField(_("published"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CourseQuerySet.as_manager()

    class Meta:
        ordering = ("order", "title")
        verbose_name = _("course")
        verbose_name_plural = _("courses")

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("courses:detail", args=[self.slug])

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        # Lesson.language mirrors the course so that lessons can be filtered without a join.
        self.lessons.exclude(language=self.language).update(language=self.language)


class LessonQuerySet(models.QuerySet):
    def published(self):
        return self.filter(published=True, course__published=True)


class Lesson(models.Model):
    course = models.ForeignKey(Course, verbose_name=_("course"), on_delete=models.CASCADE, related_name="lessons")
    slug = models.SlugField(_("slug"), max_length=100)
    order = models.PositiveIntegerField(_("order"), default=0, help_text=_("Lessons are listed by this number."))
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True, help_text=_("One or two sentences shown in the course page."))
    body_md = models.TextField(_("body (Markdown)"), blank=True, help_text=MARKDOWN_HELP)
    body_html = models.TextField(editable=False, blank=True)
    toc = models.JSONField(editable=False, default=list, blank=True)
    rendered_version = models.PositiveSmallIntegerField(editable=False, default=0)
    minutes = models.PositiveSmallIntegerField(_("minutes"), default=10, help_text=_("Estimated reading time."))
    published = models.BooleanField(_("published"), default=False)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, editable=False)
    # SHA-256 of the seed file this lesson was last loaded from; "" for lessons made in the admin.
    seed_hash = models.CharField(max_length=64, editable=False, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = LessonQuerySet.as_manager()

    class Meta:
        ordering = ("course", "order", "id")
        verbose_name = _("lesson")
        verbose_name_plural = _("lessons")
        constraints = [models.UniqueConstraint(fields=("course", "slug"), name="lesson_unique_slug_per_course")]
        indexes = [models.Index(fields=("course", "order"))]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("courses:lesson", args=[self.course.slug, self.slug])

    @property
    def is_visible(self) -> bool:
        return self.published and self.course.published

    def render(self) -> None:
        rendered = render_markdown(self.body_md)
        self.body_html, self.toc, self.rendered_version = rendered.html, rendered.toc, RENDERER_VERSION

    def save(self, *args, **kwargs):
        self.language = self.course.language
        self.body_md = self.body_md.replace("\r\n", "\n")
        self.render()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "body_html", "toc", "rendered_version", "language"}
        super().save(*args, **kwargs)


class LessonProgress(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lesson_progress")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    viewed_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("lesson progress")
        verbose_name_plural = _("lesson progress")
        constraints = [models.UniqueConstraint(fields=("user", "lesson"), name="progress_unique_user_lesson")]

    def __str__(self):
        return f"{self.user} · {self.lesson}"
