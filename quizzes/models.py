"""Quizzes at the end of lessons, and students' graded attempts at them.

Grading rule (shown to students on the quiz page): a single-choice question is right when the
one correct choice is picked; a multiple-choice question only when exactly the set of correct
choices is picked, so a partly right answer counts as wrong.
"""
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class QuizQuerySet(models.QuerySet):
    def available(self):
        """Quizzes a student may take: the quiz, its lesson and its course are all published."""
        return self.filter(published=True, lesson__published=True, lesson__course__published=True)


class Quiz(models.Model):
    lesson = models.OneToOneField("courses.Lesson", verbose_name=_("lesson"), on_delete=models.CASCADE,
                                  related_name="quiz")
    title = models.CharField(_("title"), max_length=200)
    pass_mark = models.PositiveSmallIntegerField(
        _("pass mark (%)"), default=70, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("The lowest score, in percent, that passes."))
    shuffle_choices = models.BooleanField(_("shuffle choices"), default=True,
                                          help_text=_("Show the choices in a new order on every attempt."))
    published = models.BooleanField(_("published"), default=True)
    # SHA-256 of the seed file this quiz was last loaded from; "" for quizzes made in the admin.
    seed_hash = models.CharField(max_length=64, editable=False, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = QuizQuerySet.as_manager()

    class Meta:
        ordering = ("lesson__course__order", "lesson__order", "id")
        verbose_name = _("quiz")
        verbose_name_plural = _("quizzes")

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("quizzes:detail", args=[self.pk])


class Question(models.Model):
    SINGLE, MULTIPLE = "single", "multiple"
    KINDS = [(SINGLE, _("single choice")), (MULTIPLE, _("multiple choice"))]

    quiz = models.ForeignKey(Quiz, verbose_name=_("quiz"), on_delete=models.CASCADE, related_name="questions")
    order = models.PositiveIntegerField(_("order"), default=0)
    kind = models.CharField(
        _("kind"), max_length=10, choices=KINDS, default=SINGLE,
        help_text=_("Single choice: exactly one correct choice. Multiple choice: one or more correct choices; "
                    "the answer counts only when the student picks exactly those. Say \"(select all that apply)\" "
                    "in the question."))
    text = models.TextField(_("question"))
    explanation = models.TextField(_("explanation"), blank=True,
                                   help_text=_("Shown after submission: why the right answer is right."))

    class Meta:
        ordering = ("order", "id")
        verbose_name = _("question")
        verbose_name_plural = _("questions")

    def __str__(self):
        return self.text if len(self.text) <= 80 else self.text[:79] + "…"

    @property
    def is_multiple(self) -> bool:
        return self.kind == self.MULTIPLE


class Choice(models.Model):
    question = models.ForeignKey(Question, verbose_name=_("question"), on_delete=models.CASCADE,
                                 related_name="choices")
    text = models.CharField(_("text"), max_length=500)
    is_correct = models.BooleanField(_("correct"), default=False)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ("order", "id")
        verbose_name = _("choice")
        verbose_name_plural = _("choices")

    def __str__(self):
        return self.text


class Attempt(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    student = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("student"), on_delete=models.CASCADE,
                                related_name="quiz_attempts")
    quiz = models.ForeignKey(Quiz, verbose_name=_("quiz"), on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    score = models.PositiveSmallIntegerField(_("score (%)"), null=True, blank=True)
    correct_count = models.PositiveSmallIntegerField(_("correct answers"), default=0)
    question_count = models.PositiveSmallIntegerField(_("number of questions"), default=0)
    passed = models.BooleanField(_("passed"), default=False)
    # {"<question id>": [choice ids in the order this attempt shows them]}
    choice_order = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ("-started_at", "-id")
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        indexes = [models.Index(fields=("student", "quiz", "submitted_at"))]

    def __str__(self):
        return f"{self.student} · {self.quiz}"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None

    def get_absolute_url(self):
        name = "quizzes:attempt_result" if self.is_submitted else "quizzes:attempt_take"
        return reverse(name, args=[self.code])


class Answer(models.Model):
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, verbose_name=_("question"), on_delete=models.CASCADE,
                                 related_name="answers")
    selected = models.ManyToManyField(Choice, verbose_name=_("selected choices"), related_name="answers")
    is_correct = models.BooleanField(_("correct"), default=False)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [models.UniqueConstraint(fields=("attempt", "question"), name="answer_unique_per_question")]

    def __str__(self):
        return f"{self.attempt_id} · {self.question_id}"
