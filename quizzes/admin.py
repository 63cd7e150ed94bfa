"""Admin for instructors: quizzes with their questions, questions with their choices (validated),
and statistics that show which questions and which quizzes the class gets wrong."""
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Avg, Case, Count, F, FloatField, Q, When
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from quizzes import selectors
from quizzes.models import Attempt, Choice, Question, Quiz


def _share(numerator, denominator):
    """numerator / denominator as a float annotation, NULL when nothing was answered."""
    return Case(When(**{f"{denominator}__gt": 0}, then=F(numerator) * 1.0 / F(denominator)),
                default=None, output_field=FloatField())


def _percent_bar(share):
    """A small bar with the percentage; red below 50%, amber below 75%."""
    if share is None:
        return "–"
    percent = round(share * 100)
    level = "low" if percent < 50 else "mid" if percent < 75 else "high"
    return format_html('<span class="quiz-stat-bar quiz-stat-{}" title="{}%"><span style="width:{}%"></span></span> {}%',
                       level, percent, percent, percent)


def _correct_counts(pairs) -> tuple[int, int]:
    """(choices kept, choices marked correct) from (is_correct, deleted) pairs."""
    kept = [correct for correct, deleted in pairs if not deleted]
    return len(kept), sum(kept)


def check_choice_counts(kind: str, total: int, correct: int) -> None:
    if total < 2:
        raise ValidationError(_("A question needs at least two choices."))
    if kind == Question.SINGLE and correct != 1:
        raise ValidationError(_("A single-choice question needs exactly one correct choice (this one has %(count)s).")
                              % {"count": correct})
    if kind == Question.MULTIPLE and correct < 1:
        raise ValidationError(_("A multiple-choice question needs at least one correct choice."))


class ChoiceInlineFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        pairs = [(bool(form.cleaned_data.get("is_correct")), bool(form.cleaned_data.get("DELETE")))
                 for form in self.forms if form.cleaned_data]
        # The parent form has already copied the submitted kind onto self.instance.
        check_choice_counts(self.instance.kind, *_correct_counts(pairs))


class ChoiceInline(admin.TabularInline):
    model = Choice
    formset = ChoiceInlineFormSet
    fields = ("order", "text", "is_correct")
    formfield_overrides = {models.CharField: {"widget": forms.TextInput(attrs={"size": 80})},
                           models.PositiveIntegerField: {"widget": forms.NumberInput(attrs={"style": "width: 4em"})}}
    ordering = ("order", "id")
    extra = 0
    min_num = 2


class QuestionInlineForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = ("order", "kind", "text")
        widgets = {"text": forms.Textarea(attrs={"rows": 2, "cols": 56}),
                   "order": forms.NumberInput(attrs={"style": "width: 4em"})}

    def clean(self):
        cleaned = super().clean()
        # Choices are edited on the question's own page; changing the kind here must not
        # leave a question whose saved choices break the rule of its new kind.
        if self.instance.pk and "kind" in self.changed_data and cleaned.get("kind"):
            flags = list(self.instance.choices.values_list("is_correct", flat=True))
            try:
                check_choice_counts(cleaned["kind"], len(flags), sum(flags))
            except ValidationError as exc:
                raise ValidationError({"kind": [*exc.messages, _("Edit the choices first (link: choices).")]})
        return cleaned


class QuestionInline(admin.TabularInline):
    model = Question
    form = QuestionInlineForm
    # Compact rows; the explanation and the choices are edited on the question's own page.
    fields = ("order", "kind", "text", "choices_link")
    readonly_fields = ("choices_link",)
    ordering = ("order", "id")
    extra = 0

    @admin.display(description=_("choices"))
    def choices_link(self, question):
        if not question.pk:
            return _("Save first, then add choices and an explanation.")
        choices = list(question.choices.all())
        return format_html('<a href="{}">{}</a>', reverse("admin:quizzes_question_change", args=[question.pk]),
                           _("%(total)s choices, %(correct)s correct · edit with the explanation") % {
                               "total": len(choices), "correct": sum(c.is_correct for c in choices)})

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("choices")


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):
    list_display = ("title", "lesson", "language", "published", "question_count", "attempt_count",
                    "pass_rate", "average_score", "statistics_link")
    list_filter = ("lesson__course", "published")
    list_select_related = ("lesson__course",)
    search_fields = ("title", "lesson__title")
    fields = ("lesson", "title", "pass_mark", "shuffle_choices", "published", "problems", "statistics_summary")
    readonly_fields = ("problems", "statistics_summary")
    inlines = (QuestionInline,)
    save_on_top = True

    class Media:
        css = {"all": ("css/quizzes.css",)}

    def get_queryset(self, request):
        submitted = Q(attempts__submitted_at__isnull=False)
        return super().get_queryset(request).annotate(
            question_total=Count("questions", distinct=True),
            attempt_total=Count("attempts", filter=submitted, distinct=True),
            passed_total=Count("attempts", filter=submitted & Q(attempts__passed=True), distinct=True),
            pass_share=_share("passed_total", "attempt_total"),
            # Each attempt row repeats once per question in this join, which leaves the mean unchanged.
            score_mean=Avg("attempts__score", filter=submitted),
        )

    @admin.display(description=_("language"), ordering="lesson__course__language")
    def language(self, quiz):
        return quiz.lesson.course.get_language_display()

    @admin.display(description=_("number of questions"), ordering="question_total")
    def question_count(self, quiz):
        return quiz.question_total

    @admin.display(description=_("submitted attempts"), ordering="attempt_total")
    def attempt_count(self, quiz):
        return quiz.attempt_total

    @admin.display(description=_("pass rate"), ordering=F("pass_share").asc(nulls_last=True))
    def pass_rate(self, quiz):
        return _percent_bar(quiz.pass_share)

    @admin.display(description=_("average score"), ordering=F("score_mean").asc(nulls_last=True))
    def average_score(self, quiz):
        return "–" if quiz.score_mean is None else f"{round(quiz.score_mean)}%"

    @admin.display(description=_("statistics"))
    def statistics_link(self, quiz):
        return format_html('<a href="{}">{}</a>', reverse("admin:quizzes_quiz_statistics", args=[quiz.pk]),
                           _("Questions by difficulty"))

    @admin.display(description=_("problems"))
    def problems(self, quiz):
        if not quiz.pk:
            return "–"
        found = selectors.quiz_problems(quiz)
        if not found:
            return _("None: every question has a valid set of choices.")
        return format_html('<ul class="quiz-problems">{}</ul>', format_html_join("", "<li>{}</li>", ((p,) for p in found)))

    @admin.display(description=_("statistics"))
    def statistics_summary(self, quiz):
        if not quiz.pk:
            return "–"
        return format_html('{} · {} {} <a href="{}">{}</a>',
                           _("%(count)s submitted attempts") % {"count": quiz.attempt_total},
                           _("pass rate"), _percent_bar(quiz.pass_share),
                           reverse("admin:quizzes_quiz_statistics", args=[quiz.pk]), _("Questions by difficulty"))

    def view_on_site(self, quiz):
        return quiz.get_absolute_url()

    def get_urls(self):
        view = self.admin_site.admin_view(self.statistics_view)
        return [path("<int:quiz_id>/statistics/", view, name="quizzes_quiz_statistics")] + super().get_urls()

    def statistics_view(self, request, quiz_id):
        quiz = get_object_or_404(Quiz.objects.select_related("lesson__course"), pk=quiz_id)
        if not self.has_view_or_change_permission(request, quiz):
            raise PermissionDenied
        return TemplateResponse(request, "quizzes/admin/statistics.html", {
            **self.admin_site.each_context(request),
            "title": _("Statistics: %(title)s") % {"title": quiz.title},
            "opts": self.opts, "original": quiz, "stats": selectors.quiz_statistics(quiz),
        })


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("short_text", "quiz", "order", "kind", "answer_count", "share_correct")
    list_filter = ("quiz__lesson__course", "kind", "quiz")
    list_select_related = ("quiz",)
    search_fields = ("text", "explanation", "choices__text")
    ordering = ("quiz", "order", "id")
    fields = ("quiz", "order", "kind", "text", "explanation", "answer_count", "share_correct")
    readonly_fields = ("answer_count", "share_correct")
    inlines = (ChoiceInline,)
    save_on_top = True

    class Media:
        css = {"all": ("css/quizzes.css",)}

    def get_queryset(self, request):
        submitted = Q(answers__attempt__submitted_at__isnull=False)
        return super().get_queryset(request).annotate(
            answered=Count("answers", filter=submitted),
            answered_right=Count("answers", filter=submitted & Q(answers__is_correct=True)),
            correct_share=_share("answered_right", "answered"),
        )

    @admin.display(description=_("question"), ordering="text")
    def short_text(self, question):
        return str(question)

    @admin.display(description=_("number of answers"), ordering="answered")
    def answer_count(self, question):
        return getattr(question, "answered", 0)

    @admin.display(description=_("answered correctly"), ordering=F("correct_share").asc(nulls_last=True))
    def share_correct(self, question):
        return _percent_bar(getattr(question, "correct_share", None))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("text", "explanation"):
            field.widget.attrs["rows"] = 4 if db_field.name == "text" else 6
        return field


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Read-only: attempts are the students' record; an instructor may delete test attempts."""
    list_display = ("student", "quiz", "started_at", "submitted_at", "score", "passed")
    list_filter = ("quiz__lesson__course", "passed", "quiz")
    list_select_related = ("student", "quiz")
    search_fields = ("student__username", "quiz__title")
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
