"""The student's dashboard (/dashboard/): lessons, quiz results and training runs side by side,
and the next step to take.

It lives in the project package, not in an app, because it is the one page that reads all
three apps (each through its selectors): the apps themselves stay independent of each other
(tests/foundation/test_layers.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import get_language

from courses.models import Lesson
from courses.selectors import CourseProgress, catalog_for_user
from quizzes.selectors import quiz_status_for_user
from training.selectors import latest_runs_for_user


@dataclass
class NextStep:
    kind: str  # "lesson", "quiz", "train" or "explore"
    lesson: Lesson | None = None


def next_step(*, progress: CourseProgress | None, quiz_status: dict, has_runs: bool) -> NextStep:
    """What the dashboard suggests: finish the lessons, then pass their quizzes, then train a model."""
    if progress is not None:
        if progress.next_lesson is not None:
            return NextStep("lesson", progress.next_lesson)
        for row in progress.rows:
            status = quiz_status.get(row.lesson.id)
            if status and status.get("quiz") is not None and not status.get("passed"):
                return NextStep("quiz", row.lesson)
    return NextStep("explore" if has_runs else "train")


@login_required
def dashboard(request):
    user = request.user
    courses = catalog_for_user(user=user, language=get_language())
    main = courses[0] if courses else None
    shown = [item for item in courses if item is main or item.started]
    lessons = [row.lesson for item in shown for row in item.rows]
    quiz_status = quiz_status_for_user(user, lessons)
    latest_runs = latest_runs_for_user(user, limit=5)
    return render(request, "dashboard.html", {
        "main": main, "courses": shown, "lessons": lessons, "quiz_status": quiz_status,
        "latest_runs": latest_runs,
        "lessons_done": sum(item.done for item in shown),
        "quizzes_passed": sum(1 for status in quiz_status.values() if status.get("passed")),
        "step": next_step(progress=main, quiz_status=quiz_status, has_runs=bool(latest_runs)),
    })
