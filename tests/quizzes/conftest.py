"""Quiz fixtures: a published course and lesson with a small quiz whose answers are known."""
import pytest

from courses.models import Course, Lesson
from quizzes.models import Answer, Attempt, Choice, Question, Quiz

# (kind, text, explanation, [(choice text, correct)])
QUESTIONS = [
    ("single", "Which token comes next?", "EXPLAIN-ONE: the model predicts one token at a time.",
     [("Alpha", False), ("Bravo", True), ("Charlie", False)]),
    ("multiple", "Which are parts of a Transformer? (select all that apply)", "EXPLAIN-TWO: attention and MLP blocks.",
     [("Attention", True), ("MLP", True), ("Spreadsheet", False), ("Printer", False)]),
    ("single", "What does softmax output?", "EXPLAIN-THREE: a probability distribution.",
     [("Probabilities", True), ("Pixels", False), ("Passwords", False)]),
]


def make_lesson(slug="01-intro", *, language="en", published=True, course_published=True, course_slug=None):
    course, _ = Course.objects.get_or_create(
        slug=course_slug or f"course-{language}",
        defaults={"language": language, "title": f"Course {language}", "published": course_published})
    return Lesson.objects.create(course=course, slug=slug, title=f"Lesson {slug}", body_md="Text.",
                                 order=int(slug[:2]) if slug[:2].isdigit() else 0, published=published)


def make_quiz(lesson=None, *, questions=QUESTIONS, pass_mark=70, published=True, shuffle=True):
    lesson = lesson or make_lesson()
    quiz = Quiz.objects.create(lesson=lesson, title=f"Quiz on {lesson.title}", pass_mark=pass_mark,
                               published=published, shuffle_choices=shuffle)
    for order, (kind, text, explanation, choices) in enumerate(questions, 1):
        question = Question.objects.create(quiz=quiz, order=order, kind=kind, text=text, explanation=explanation)
        for index, (choice_text, correct) in enumerate(choices, 1):
            Choice.objects.create(question=question, text=choice_text, is_correct=correct, order=index)
    return quiz


def answers(quiz, *, right=(), partial=()):
    """Selections for `quiz`: questions whose number is in `right` get the correct set; those in
    `partial` get one correct choice only; the rest get one wrong choice."""
    selections = {}
    for number, question in enumerate(quiz.questions.prefetch_related("choices"), 1):
        correct = [c.id for c in question.choices.all() if c.is_correct]
        wrong = [c.id for c in question.choices.all() if not c.is_correct]
        if number in right:
            selections[question.id] = correct
        elif number in partial:
            selections[question.id] = correct[:1]
        else:
            selections[question.id] = wrong[:1]
    return selections


def as_post(selections) -> dict:
    return {f"q{qid}": [str(c) for c in ids] for qid, ids in selections.items()}


def db_snapshot() -> dict:
    """Everything a submission could change, to assert that a refused one changed nothing."""
    return {
        "attempts": sorted(Attempt.objects.values_list("id", "code", "student_id", "quiz_id", "submitted_at", "score",
                                                        "passed", "correct_count", "question_count")),
        "answers": sorted(Answer.objects.values_list("id", "attempt_id", "question_id", "is_correct")),
        "selected": sorted(Answer.selected.through.objects.values_list("answer_id", "choice_id")),
    }


@pytest.fixture
def lesson(db):
    return make_lesson()


@pytest.fixture
def quiz(lesson):
    return make_quiz(lesson)


def speak(user, language):
    """Logged-in users see the language saved on their profile (PreferredLanguageMiddleware)."""
    user.preferred_language = language
    user.save(update_fields=["preferred_language"])
