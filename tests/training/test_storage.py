"""Disk is bounded and cleaned (training/storage.py): what final runs keep, the per-student
storage quota, deletes (student and admin) that remove files and refuse what an active run
needs, and the sweep of files no row owns. Real files in this test's own MEDIA_ROOT."""
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_checked_dataset, make_finished_run, make_user, run_form, upload
from training import lifecycle, services, storage
from training.attempts import attempt_dir_prepare
from training.models import Dataset, TrainingRun

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def write(path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)


def training_files(run, attempt: int, *, checkpoint=True, best=True, size=1000) -> None:
    """What the engine leaves in an attempt folder: a checkpoint (weights and optimizer), best/,
    the scratch tokenizer and the log."""
    folder = run.attempt_dir(attempt)
    if checkpoint:
        write(folder / "checkpoints" / "step-00000010" / "weights.safetensors", size)
        write(folder / "checkpoints" / "step-00000010" / "optimizer.pt", 2 * size)
        (folder / "checkpoints" / "step-00000010" / "state.json").write_text('{"step": 10}')
    if best:
        write(folder / "best" / "weights.safetensors", size)
    write(folder / "tokenizer" / "tokenizer.json", 100)
    (folder / "train.log").write_text("step 10\n")


def succeeded_with_leftovers(owner, dataset):
    run = make_finished_run(owner, dataset)
    training_files(run, 1, checkpoint=False)
    write(run.export_dir / "model.safetensors", 1000)
    training_files(run, 2)  # an earlier attempt's folder is not this one, but any other goes too
    return run


def in_english(user):
    user.preferred_language = "en"
    user.save()
    return user


# What a final run keeps ----------------------------------------------------------------------

def test_a_succeeded_run_keeps_its_export_and_archive_only(alice, corpus):
    run = succeeded_with_leftovers(alice, corpus)
    before = storage.tree_bytes(run.run_dir)
    freed = storage.run_prune(run)
    kept = storage.tree_bytes(run.export_dir) + run.archive_path.stat().st_size
    assert storage.tree_bytes(run.run_dir) == kept == before - freed
    assert sorted(p.name for p in run.run_dir.iterdir()) == ["attempt-1"]
    assert sorted(p.name for p in run.attempt_dir(1).iterdir()) == sorted(["export", run.archive_name])


def test_a_cancelled_run_without_a_checkpoint_keeps_nothing(alice, corpus, bases, django_capture_on_commit_callbacks):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, base_model=bases["tiny"], status="queued",
                                     attempt=2, active_slot=0)
    training_files(run, 1, checkpoint=False)  # attempt 1 was lost before its first checkpoint
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.run_cancel(run_id=run.pk) == "cancelled"
    assert not run.run_dir.exists()


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_a_stopped_run_keeps_its_newest_checkpoint_while_it_can_resume(final, alice, corpus, bases, settings,
                                                                       django_capture_on_commit_callbacks):
    settings.TRAINING_RESUME_KEEP_HOURS = 24
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, base_model=bases["tiny"], status="running",
                                     attempt=2)
    training_files(run, 1)
    training_files(run, 2)
    with django_capture_on_commit_callbacks(execute=True):
        if final == "failed":
            assert lifecycle.run_fail(run_id=run.pk, attempt=2, code="disk_full")
        else:
            assert lifecycle.run_mark_cancelled(run_id=run.pk, attempt=2)
    run.refresh_from_db()
    # The earlier attempt goes at once; the newest checkpoint stays for a requeue, which resumes from it.
    assert sorted(p.name for p in run.run_dir.iterdir()) == ["attempt-2"]
    assert (run.attempt_dir(2) / "checkpoints" / "step-00000010" / "optimizer.pt").is_file()
    assert storage.run_leftovers(run, now=run.finished_at + timedelta(hours=23)) == []
    # Past the window everything goes; a requeue then starts from step 0.
    storage.run_prune(run, now=run.finished_at + timedelta(hours=25))
    assert not run.run_dir.exists()


def test_a_requeued_failed_run_resumes_from_the_kept_checkpoint(alice, corpus, bases,
                                                                django_capture_on_commit_callbacks):
    run = TrainingRun.objects.create(owner=alice, dataset=corpus, base_model=bases["tiny"], status="running")
    training_files(run, 1)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.run_fail(run_id=run.pk, attempt=1, code="timeout")
        services.training_run_requeue(run=TrainingRun.objects.get(pk=run.pk))
    run.refresh_from_db()
    assert (run.status, run.attempt) == ("queued", 2)
    assert attempt_dir_prepare(run, 2) == 1
    assert (run.attempt_dir(2) / "checkpoints" / "step-00000010" / "weights.safetensors").is_file()


# The quota -----------------------------------------------------------------------------------------

def fill(run, size: int) -> None:
    write(run.run_dir / "attempt-1" / "export" / "model.safetensors", size)


def test_the_quota_refuses_an_upload_with_a_clear_message(client, settings, bases):
    settings.TRAINING_STORAGE_QUOTA_MB = 1
    for language, expected in (("en", "This needs about"), ("ja", "空き容量")):
        student = make_user(f"student-{language}", preferred_language=language)
        fill(make_finished_run(student, None, archive=False), MB - 1000)
        client.force_login(student)
        response = client.post(reverse("training:datasets"), {"file": upload(content=b"hello world\n" * 200)})
        assert response.status_code == 400 and expected in response.content.decode()
        assert not Dataset.objects.filter(owner=student).exists()


def test_the_quota_refuses_a_run_and_the_pages_show_the_use(alice_client, alice, corpus, bases, settings):
    settings.TRAINING_STORAGE_QUOTA_MB = 1
    fill(make_finished_run(alice, corpus, archive=False), MB)
    page = alice_client.get(reverse("training:runs")).content.decode()
    assert "Storage: 1.0\xa0MB used of 1.0\xa0MB" in page and "Your storage is full" in page
    assert "Storage: " in alice_client.get(reverse("training:datasets")).content.decode()
    with pytest.raises(services.RunRefused) as refused:
        services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"])
    assert refused.value.code == "storage_full" and "Delete runs or datasets" in refused.value.message
    response = alice_client.post(reverse("training:run_new"), run_form(corpus))
    assert response.status_code == 400 and "This needs about" in response.content.decode()
    assert TrainingRun.objects.filter(owner=alice, status="queued").count() == 0
    # Deleting the run frees the space.
    for run in TrainingRun.objects.filter(owner=alice):
        services.training_run_delete(run=run)
    assert storage.usage_for(alice).used == storage.tree_bytes(corpus.path)


def test_instructors_have_no_quota(client, carol, bases, settings):
    settings.TRAINING_STORAGE_QUOTA_MB = 1
    fill(make_finished_run(carol, None, archive=False), 2 * MB)
    assert storage.usage_for(carol).limit is None
    services.storage_check(owner=carol, needed=10 * MB)  # no refusal
    client.force_login(in_english(carol))
    assert "no limit for instructors" in client.get(reverse("training:runs")).content.decode()


# Deletes ---------------------------------------------------------------------------------------------

def queued_child(run, owner, dataset, bases):
    return TrainingRun.objects.create(owner=owner, dataset=dataset, base_run=run, status="queued")


def test_a_run_another_active_run_continues_from_cannot_be_deleted(alice_client, alice, corpus, bases):
    base = make_finished_run(alice, corpus)
    child = queued_child(base, alice, corpus, bases)
    response = alice_client.post(reverse("training:run_delete", args=[base.code]), follow=True)
    assert "continues from this one" in response.content.decode()
    assert TrainingRun.objects.filter(pk=base.pk).exists() and base.archive_path.is_file()
    TrainingRun.objects.filter(pk=child.pk).update(status="succeeded", active_slot=None)
    alice_client.post(reverse("training:run_delete", args=[base.code]))
    assert not TrainingRun.objects.filter(pk=base.pk).exists() and not base.run_dir.exists()


def test_admin_deletes_go_through_the_services(client, carol, alice, corpus, bases):
    client.force_login(in_english(carol))
    finished = succeeded_with_leftovers(alice, corpus)
    delete_url = reverse("admin:training_trainingrun_delete", args=[finished.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not TrainingRun.objects.filter(pk=finished.pk).exists() and not finished.run_dir.exists()
    # An active run, or the base of one, is refused with the reason (nothing deleted).
    running = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running", active_slot=0)
    training_files(running, 1)
    base = make_finished_run(alice, corpus)
    queued_child(base, alice, corpus, bases)
    for run, reason in ((running, "Cancel the run before deleting it."), (base, "continues from this one")):
        response = client.post(reverse("admin:training_trainingrun_delete", args=[run.pk]), {"post": "yes"})
        assert response.status_code == 200 and reason in response.content.decode()
        assert TrainingRun.objects.filter(pk=run.pk).exists() and run.run_dir.exists()
    # The bulk action: refused as a whole while one of them is active, then done with the files.
    a, b = make_finished_run(alice, corpus), make_finished_run(alice, corpus)
    changelist = reverse("admin:training_trainingrun_changelist")
    response = client.post(changelist, {"action": "delete_selected", "_selected_action": [a.pk, running.pk],
                                        "post": "yes"})
    assert "Cancel the run before deleting it." in response.content.decode()
    assert TrainingRun.objects.filter(pk__in=[a.pk, running.pk]).count() == 2
    client.post(changelist, {"action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes"})
    assert not TrainingRun.objects.filter(pk__in=[a.pk, b.pk]).exists()
    assert not a.run_dir.exists() and not b.run_dir.exists() and running.run_dir.exists()


def test_admin_dataset_deletes_remove_the_files_and_refuse_datasets_in_use(client, carol, alice, corpus, bases):
    client.force_login(in_english(carol))
    other = make_checked_dataset(alice, upload("other.txt"))
    running = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running", active_slot=0)
    response = client.post(reverse("admin:training_dataset_delete", args=[corpus.pk]), {"post": "yes"})
    assert "A queued or running run uses this dataset" in response.content.decode()
    assert Dataset.objects.filter(pk=corpus.pk).exists() and corpus.path.is_file()
    client.post(reverse("admin:training_dataset_changelist"),
                {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"})
    assert not Dataset.objects.filter(pk=other.pk).exists() and not other.path.exists()
    TrainingRun.objects.filter(pk=running.pk).update(status="failed", active_slot=None)
    client.post(reverse("admin:training_dataset_delete", args=[corpus.pk]), {"post": "yes"})
    assert not Dataset.objects.filter(pk=corpus.pk).exists() and not corpus.path.exists()


# The sweep ---------------------------------------------------------------------------------------------

def test_the_sweep_removes_what_no_row_needs_after_the_grace_period(alice, corpus, bases, capsys):
    from training import conf

    orphan_run = conf.runs_root() / "0b6c1f7e-3a1c-4d51-9d1e-1c2b3a4d5e6f"
    write(orphan_run / "attempt-1" / "checkpoints" / "step-00000001" / "optimizer.pt", 3000)
    not_a_run = conf.runs_root() / "notes"
    write(not_a_run / "readme.txt", 10)
    orphan_text = corpus.path.parent / "ffffffffffffffffffffffffffffffff.txt"
    write(orphan_text, 500)
    orphan_original = corpus.path.parent / "originals" / "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.bin"
    write(orphan_original, 700)
    succeeded = succeeded_with_leftovers(alice, corpus)
    running = TrainingRun.objects.create(owner=alice, dataset=corpus, status="running", active_slot=0)
    training_files(running, 1)
    failed = TrainingRun.objects.create(owner=alice, dataset=corpus, status="failed", finished_at=timezone.now())
    training_files(failed, 1)
    expected = {orphan_run, orphan_text, orphan_original, succeeded.attempt_dir(2),
                *[succeeded.attempt_dir(1) / name for name in ("best", "tokenizer", "train.log")]}

    # Everything was just written: within the grace period nothing goes.
    assert storage.sweep(now=timezone.now()).removed == []
    later = timezone.now() + timedelta(hours=2)
    call_command("sweep_storage", "--dry-run", "--grace-seconds", "0")
    out = capsys.readouterr().out
    assert "would remove" in out and "Would free" in out and orphan_run.exists() and orphan_text.exists()
    swept = storage.sweep(now=later)
    assert {path for path, _size, _why in swept.removed} == expected
    assert swept.bytes == sum(size for _path, size, _why in swept.removed) > 3000 + 500 + 700
    assert not any(path.exists() for path in expected)
    assert not_a_run.exists() and corpus.path.is_file() and succeeded.archive_path.is_file()
    assert (running.attempt_dir(1) / "checkpoints").is_dir() and (failed.attempt_dir(1) / "checkpoints").is_dir()
    # The failed run's checkpoint goes once its time to resume is over.
    swept = storage.sweep(now=failed.finished_at + timedelta(hours=25))
    assert [path for path, _size, _why in swept.removed] == [failed.run_dir] and not failed.run_dir.exists()


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_sweeps_once_per_interval(alice, redis_conn, settings):
    from training import conf
    from training.reconciler import reconcile

    settings.TRAINING_STORAGE_SWEEP_INTERVAL_SECONDS = 3600
    orphan = conf.runs_root() / "0b6c1f7e-3a1c-4d51-9d1e-1c2b3a4d5e6f"
    write(orphan / "attempt-1" / "train.log", 10)
    old = (timezone.now() - timedelta(hours=2)).timestamp()
    for path in (orphan / "attempt-1" / "train.log", orphan / "attempt-1", orphan):
        os.utime(path, (old, old))
    assert reconcile() == {"storage_swept": 1} and not orphan.exists()
    write(orphan / "train.log", 10)
    for path in (orphan / "train.log", orphan):
        os.utime(path, (old, old))
    assert reconcile() == {} and orphan.exists()  # the next sweep waits for the interval
