"""WORKER_NICENESS: training and inference workers (and dataset-check jobs) yield the CPU to
the web processes, so a page never waits behind a model on a machine that hosts both."""
import os
import subprocess
import sys

import pytest

SNIPPET = """
import os, sys
os.setpriority(os.PRIO_PROCESS, 0, int(sys.argv[1]))
from training.priority import lower_priority
print(lower_priority(int(sys.argv[2])), os.getpriority(os.PRIO_PROCESS, 0))
"""


def nice_after(start: int, target: int, *, own_session: bool = False) -> tuple[int | None, ...]:
    """(what lower_priority returned, the process's nice value, its autogroup's nice)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmschool.test_settings"}
    code = ("import django; django.setup()\n" + SNIPPET.replace("print(", "from training.priority import "
            "autogroup_nice\nprint(") .replace("os.getpriority(os.PRIO_PROCESS, 0))",
                                          "os.getpriority(os.PRIO_PROCESS, 0), autogroup_nice())"))
    out = subprocess.run([sys.executable, "-c", code, str(start), str(target)], env=env, check=True,
                         capture_output=True, text=True, start_new_session=own_session).stdout.split()
    # An autogroup's nice prints "None" where the kernel has none (or a sandbox shows an empty file)
    return tuple(None if value == "None" else int(value) for value in out)


def test_a_worker_raises_its_nice_value_but_never_lowers_an_operators():
    assert nice_after(0, 10)[:2] == (10, 10)
    assert nice_after(15, 10)[:2] == (15, 15)  # started under `nice -n 15`: stays there
    assert nice_after(0, 0)[:2] == (0, 0)


def autogroups_readable() -> bool:
    """CI's sandbox has /proc/self/autogroup but shows it empty: only a readable value counts."""
    from training.priority import autogroup_nice

    return autogroup_nice() is not None


@pytest.mark.skipif(not autogroups_readable(), reason="no readable Linux autogroups here")
def test_a_worker_in_its_own_session_lowers_its_autogroup_and_one_in_a_shared_session_does_not():
    """Linux shares the CPU between sessions first: nice alone would not reach the web server's
    session. A worker leading its own session (as `make run` starts it) lowers the session's
    autogroup; one sharing a session with, say, gunicorn must not slow gunicorn with it."""
    assert nice_after(0, 10, own_session=True) == (10, 10, 10)
    from training.priority import autogroup_nice

    shared = autogroup_nice()
    assert nice_after(0, 10, own_session=False)[2] == shared


@pytest.mark.django_db
def test_the_worker_classes_lower_their_priority(monkeypatch):
    from training import worker

    called = []
    monkeypatch.setattr(worker, "lower_priority", lambda *a: called.append(True))
    monkeypatch.setattr(worker.Worker, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(worker.SimpleWorker, "__init__", lambda self, *a, **k: None)
    worker.TrainingWorker.__new__(worker.TrainingWorker).__init__()
    worker.InferenceWorker.__new__(worker.InferenceWorker).__init__(["inference"])
    assert called == [True, True]


def test_the_default_is_niced_and_tests_are_not(settings):
    from llmschool import settings as site_settings

    assert site_settings.WORKER_NICENESS == int(os.environ.get("WORKER_NICENESS", 10))
    assert settings.WORKER_NICENESS == 0


@pytest.mark.django_db
def test_a_dataset_check_lowers_its_priority_only_in_a_work_horse(monkeypatch):
    from training import dataset_check

    called = []
    monkeypatch.setattr(dataset_check, "lower_priority", lambda *a: called.append(True))
    assert dataset_check.check_job(999_999, 1) == "stale"  # in-process (a test, a command): untouched
    monkeypatch.setattr(dataset_check, "get_current_job", lambda: object())
    assert dataset_check.check_job(999_999, 1) == "stale"
    assert called == [True]


def test_an_empty_or_missing_autogroup_file_reads_as_no_autogroups(tmp_path, monkeypatch):
    """CI's sandbox shows /proc/self/autogroup empty: the worker must start anyway."""
    from training import priority

    empty = tmp_path / "autogroup"
    empty.write_text("")
    monkeypatch.setattr(priority, "AUTOGROUP", empty)
    assert priority.autogroup_nice() is None
    priority.lower_autogroup(10)  # nothing to lower, nothing raised
    assert empty.read_text() == ""
    monkeypatch.setattr(priority, "AUTOGROUP", tmp_path / "absent")
    assert priority.autogroup_nice() is None
