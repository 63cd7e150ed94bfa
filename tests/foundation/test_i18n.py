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
