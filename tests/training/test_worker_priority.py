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


def nice_after(start: int, target: int) -> tuple[int, int]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmschool.test_settings"}
    code = "import django; django.setup()\n" + SNIPPET
    out = subprocess.run([sys.executable, "-c", code, str(start), str(target)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def test_a_worker_raises_its_nice_value_but_never_lowers_an_operators():
    assert nice_after(0, 10) == (10, 10)
    assert nice_after(15, 10) == (15, 15)  # started under `nice -n 15`: stays there
    assert nice_after(0, 0) == (0, 0)


@pytest.mark.django_db
def test_the_worker_classes_lower_their_priority(monkeypatch):
    from training import worker

    called = []
    monkeypatch.setattr(worker, "lower_priority", lambda *a: called.append(True))
    monkeypatch.setattr(worker.Worker, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(worker.SimpleWorker, "__init__", lambda self, *a, **k: None)
    worker.TrainingWorker.__new__(worker.TrainingWorker).__init__()
    worker.InferenceWorker.__new__(worker.InferenceWorker).__init__()
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
