import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
PO_PATH = ROOT / "locale" / "ja" / "LC_MESSAGES" / "django.po"


def test_every_japanese_message_is_translated():
    po = polib.pofile(str(PO_PATH))
    untranslated = [entry.msgid for entry in po.untranslated_entries() if not entry.obsolete]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    assert untranslated == [] and fuzzy == []


def test_compiled_catalogue_matches_the_po_file():
    po = polib.pofile(str(PO_PATH))
    mo = polib.mofile(str(PO_PATH.with_suffix(".mo")))
    compiled = {entry.msgid: entry.msgstr for entry in mo}
    missing = [entry.msgid for entry in po.translated_entries() if compiled.get(entry.msgid) != entry.msgstr
               and not entry.msgid_plural]
    assert missing == [], "run `make messages`"


@pytest.mark.django_db
def test_japanese_is_the_default_language(client):
    page = client.get(reverse("home")).content.decode()
    assert '<html lang="ja">' in page
    assert "ログイン" in page


@pytest.mark.django_db
def test_the_switcher_changes_to_english(client):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("login")).content.decode()
    assert '<html lang="en">' in page
    assert "Log in" in page and "ログイン" not in page


@pytest.mark.django_db
def test_the_browser_language_is_honoured(client):
    page = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="en">' in page


def _message_ignores() -> list[str]:
    """The same --ignore patterns as `make messages` (read from the Makefile: one list)."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("MESSAGE_IGNORES :="):
            return line.split(":=", 1)[1].split()
    raise AssertionError("MESSAGE_IGNORES not found in the Makefile")


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext is not installed (make system-deps)")
def test_every_source_message_is_in_the_catalogue(tmp_path):
    """A new gettext string in the code or a template is in django.po (else it shows in English on
    the Japanese site until someone happens to run `make messages`), and nothing stale lingers."""
    for name in ("manage.py",):
        shutil.copy2(ROOT / name, tmp_path / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "corpora", "instructions", "*.mo")
    for name in ("llmschool", "courses", "quizzes", "training", "templates", "locale"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=skip)
    ignores = [arg for pattern in _message_ignores() for arg in ("--ignore", pattern)]
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "ja", "--no-obsolete", "--no-location",
                    *ignores], cwd=tmp_path, check=True, capture_output=True)
    ours = {entry.msgid for entry in polib.pofile(str(PO_PATH)) if not entry.obsolete}
    extracted = {entry.msgid for entry in polib.pofile(str(tmp_path / PO_PATH.relative_to(ROOT)))
                 if not entry.obsolete}
    assert sorted(extracted - ours) == [], "strings missing from django.po: run `make messages` and translate them"
    assert sorted(ours - extracted) == [], "django.po has strings no source uses: run `make messages`"
