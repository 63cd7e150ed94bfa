import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-production-secret-" + "y" * 30,
    "ALLOWED_HOSTS": "llmschool.example.com",
    "DJANGO_SETTINGS_MODULE": "llmschool.settings",
}


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_secret_key_is_required_when_debug_is_off():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_boolean_fails_loudly():
    result = _manage("check", DEBUG="maybe", DJANGO_SETTINGS_MODULE="llmschool.settings")
    assert result.returncode != 0 and "DEBUG must be true or false" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db):
    from django.db import connection

    if connection.vendor != "sqlite":  # the PostgreSQL run: WAL is an SQLite setting
        assert connection.vendor == "postgresql"
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["timeout"] >= 5


def test_no_template_or_stylesheet_loads_anything_from_another_site():
    """The site must work offline: no CDN in templates, CSS or JS."""
    offenders = []
    pattern = re.compile(r"""(src|href)\s*=\s*["']https?://|@import\s+url\(["']?https?://|fetch\(["']https?://""")
    for folder in ("templates", "static/css", "static/js"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".html", ".css", ".js"} and pattern.search(path.read_text(errors="ignore")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
