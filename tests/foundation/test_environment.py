"""One settings path: llmschool/settings.py reads and checks every environment variable at start,
README's table is generated from the same declarations, and nothing else parses the environment."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from llmschool import env
from scripts import settings_table

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **variables):
    """manage.py with the plain settings, the suite's own knobs removed, and `variables` added."""
    suite_only = ("DJANGO_ALLOW_ASYNC_UNSAFE", "TEST_MEDIA_ROOT", "TEST_MODELS_DIR")
    keep = {k: v for k, v in os.environ.items() if k not in env.VARIABLES and k not in suite_only}
    full_env = {**keep, "DJANGO_SETTINGS_MODULE": "llmschool.settings", **variables}
    return subprocess.run([sys.executable, "manage.py", *args], check=False, cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, value, message", [
    ("TRAINING_MAX_ATTEMPTS", "abc", "TRAINING_MAX_ATTEMPTS must be an integer of at least 1, not 'abc'"),
    ("TRAINING_HEARTBEAT_STALE_SECONDS", "soon", "TRAINING_HEARTBEAT_STALE_SECONDS must be a number of at least 1"),
    ("TRAINING_EXTRA_HYPERPARAMETERS", "[1, 2]", "TRAINING_EXTRA_HYPERPARAMETERS must be a JSON object"),
    ("REDIS_URL", "localhost:6379", "REDIS_URL must be a value starting with redis://"),
    ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE must be a time zone name"),
])
def test_a_bad_value_stops_manage_py_check_naming_the_variable(name, value, message):
    result = _manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]


def test_a_value_in_a_workers_environment_reaches_its_training_settings():
    # How the suite's worker processes get short intervals (tests/conftest.py worker_environment).
    result = _manage("shell", "-c", "from training import conf; print(conf.heartbeat_stale_seconds(), "
                                    "conf.reconcile_interval_seconds(), conf.extra_hyperparameters())",
                     TRAINING_HEARTBEAT_STALE_SECONDS="3", TRAINING_RECONCILE_INTERVAL_SECONDS="1",
                     TRAINING_EXTRA_HYPERPARAMETERS='{"num_threads": 1}')
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "3.0 1.0 {'num_threads': 1}"


@pytest.fixture
def fresh_registry(monkeypatch):
    """The helpers record what they read; these tests must not add to the suite's settings table."""
    monkeypatch.setattr(env, "VARIABLES", {})
    return monkeypatch


@pytest.mark.parametrize("call, raw, message", [
    (lambda: env.envint("X", 1, "x", minimum=1), "0", "X must be an integer of at least 1, not '0'"),
    (lambda: env.envint("X", 1, "x", minimum=1, maximum=9), "1.5", "X must be an integer from 1 to 9"),
    (lambda: env.envfloat("X", 1.0, "x"), "nan", "X must be a number, not 'nan'"),
    (lambda: env.envbool("X", True, "x"), "maybe", "X must be true or false"),
    (lambda: env.envjson("X", {}, "x"), "{num_threads: 2}", "X must be a JSON object"),
    (lambda: env.envstr("X", "INFO", "x", choices=("INFO", "DEBUG")), "loud", "X must be one of INFO, DEBUG"),
])
def test_each_helper_names_the_variable_and_the_expected_form(fresh_registry, call, raw, message):
    fresh_registry.setenv("X", raw)
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        call()


def test_helpers_return_values_and_defaults(fresh_registry):
    fresh_registry.setenv("X", " 2.5 ")
    fresh_registry.setenv("Y", "a, b,,")
    fresh_registry.setenv("Z", "")
    assert env.envfloat("X", 1.0, "x") == 2.5
    assert env.envlist("Y", [], "y") == ["a", "b"]
    assert env.envint("Z", 7, "z") == 7 and env.envpath("Z", None, "z") is None
    assert env.envjson("UNSET_IN_THIS_TEST", {"a": 1}, "u") == {"a": 1}
    assert list(env.VARIABLES) == ["X", "Y", "Z", "UNSET_IN_THIS_TEST"]


def test_readme_table_is_the_generated_one():
    import llmschool.settings  # noqa: F401  (the suite's test_settings read it already)

    _, table, _ = settings_table.split((ROOT / "README.md").read_text(encoding="utf-8"))
    assert table == env.markdown_table(), "run: python scripts/settings_table.py"
    # Defaults are shown for any machine, never this checkout's paths.
    assert str(ROOT) not in table
    names = re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE)
    for setting in ("TRAINING_MAX_ATTEMPTS", "TRAINING_RECONCILE_INTERVAL_SECONDS", "TRAINING_EXTRA_HYPERPARAMETERS",
                    "TRAINING_RUNS_DIR", "DATASET_MAX_BYTES", "INFERENCE_TORCH_THREADS", "LOG_LEVEL"):
        assert setting in names


# Files that may read os.environ themselves, and why: everything else reads django.conf.settings.
ENVIRONMENT_READERS = {
    "llmschool/env.py": "the helpers settings.py reads every variable with",
    "llmschool/test_settings.py": "the suite's plumbing (its Redis, per-session paths) before the settings exist",
    "llmschool/devservices.py": "passes the environment on to the processes it starts",
    "training/management/commands/download_base_model.py": "turns HF_HUB_OFFLINE off for huggingface_hub",
}


def test_only_the_settings_read_the_environment():
    readers = []
    for package in ("llmschool", "training", "courses", "quizzes"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            text = path.read_text(encoding="utf-8")
            if relative not in ENVIRONMENT_READERS and re.search(r"os\.environ(?!\.setdefault\(\"DJANGO_SETTINGS_MODULE)"
                                                                 r"|os\.getenv|getenv\(", text):
                readers.append(relative)
    assert readers == []
