"""Abuse tests: what a curious or hostile student can send. Objects are created directly
(no worker, no training): these tests check who may see and change what, not training."""
import zipfile
from dataclasses import dataclass, field

import pytest

from tests.factories import make_base_model, make_course, make_lesson, make_quiz, make_user


@dataclass
class World:
    """Alice's things, in every state an owner-scoped URL can meet."""

    alice: object
    bob: object
    quiz: object
    course: object
    lesson: object
    dataset: object
    run_succeeded: object
    run_running: object
    run_failed: object
    attempt_open: object
    attempt_done: object
    archive_bytes: bytes = b""
    extra: dict = field(default_factory=dict)

    def owned_codes(self) -> dict:
        """Every UUID of Alice's that a URL could take, by what it is."""
        return {
            "dataset": self.dataset.code,
            "run_succeeded": self.run_succeeded.code,
            "run_running": self.run_running.code,
            "run_failed": self.run_failed.code,
            "attempt_open": self.attempt_open.code,
            "attempt_done": self.attempt_done.code,
        }


def make_scratch_base():
    """The from-scratch base the abuse tests post as "base:scratch-tiny"."""
    return make_base_model("scratch-tiny", name="Tiny from scratch", size="1M")


def make_dataset(owner, *, name="corpus", text="こんにちは。Hello world.\n" * 200):
    """A dataset row with a real file under MEDIA_ROOT, as if uploaded and checked."""
    from django.core.files.base import ContentFile

    from training.models import Dataset

    dataset = Dataset(owner=owner, name=name, size_bytes=len(text.encode()),
                      report={"chars": len(text), "tokens": len(text) // 2, "blocks": 10, "estimated_seconds": {}})
    dataset.file.save("corpus.txt", ContentFile(text.encode()), save=False)
    dataset.save()
    return dataset


def make_run(owner, dataset, base, *, status, archive: bytes | None = None, **fields):
    """A run row in `status`; a succeeded run gets an export dir and an archive on disk."""
    from django.utils import timezone

    from training.models import TrainingRun

    active = status in TrainingRun.ACTIVE
    run = TrainingRun.objects.create(
        owner=owner, dataset=dataset, base_model=base, status=status, preset="quick",
        hyperparameters={"epochs": 1.0, "max_steps": 4}, active_slot=0 if active else None,
        step=2 if status == TrainingRun.RUNNING else 0, total_steps=4, heartbeat_at=timezone.now() if active else None,
        published_attempt=1 if status == TrainingRun.SUCCEEDED else None, **fields)
    if status == TrainingRun.SUCCEEDED:
        export = run.attempt_dir(1) / "export"
        export.mkdir(parents=True, exist_ok=True)
        (export / "config.json").write_text('{"n_positions": 128}')
        run.archive_path.write_bytes(archive or b"")
    return run


def fake_archive() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", '{"secret": "alice-model-7f3a"}')
    return buffer.getvalue()


@pytest.fixture
def media(private_dirs):
    """A private MEDIA_ROOT (tests/conftest.py), so files written by a test are the test's own."""
    return private_dirs.MEDIA_ROOT


@pytest.fixture
def world(db, media):
    from django.utils import timezone

    from quizzes.models import Attempt
    from training.models import TrainingRun

    alice, bob = make_user("alice"), make_user("bob")
    course = make_course("abuse-ja", language="ja", title="Abuse course")
    lesson = make_lesson("01-abuse", course=course, title="Lesson", summary="s", body="## A\n\nText.")
    quiz = make_quiz(lesson, questions=[("single", "2 + 2?", "Arithmetic.", [("4", True), ("5", False)])],
                     pass_mark=50, shuffle=False)
    base = make_scratch_base()
    dataset = make_dataset(alice, name="alice-diary")
    archive = fake_archive()
    succeeded = make_run(alice, dataset, base, status=TrainingRun.SUCCEEDED, archive=archive,
                         samples=[{"prompt": "p", "base": "b", "tuned": "t"}])
    running = make_run(alice, dataset, base, status=TrainingRun.RUNNING)
    failed = make_run(alice, dataset, base, status=TrainingRun.FAILED, error_code="worker_lost")
    open_attempt = Attempt.objects.create(student=alice, quiz=quiz, choice_order={})
    done = Attempt.objects.create(student=alice, quiz=quiz, choice_order={}, submitted_at=timezone.now(), score=100,
                                  passed=True, correct_count=1, question_count=1)
    return World(alice=alice, bob=bob, quiz=quiz, course=course, lesson=lesson, dataset=dataset,
                 run_succeeded=succeeded, run_running=running, run_failed=failed, attempt_open=open_attempt,
                 attempt_done=done, archive_bytes=archive)
