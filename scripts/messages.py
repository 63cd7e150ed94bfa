"""Regenerate the Japanese catalogue from the sources and the per-area translation files.

Why not edit locale/ja/LC_MESSAGES/django.po by hand: several people add strings at the
same time. Each area keeps its translations in i18n/ja/<area>.json ({"English": "日本語"});
this script runs makemessages, fills the .po from every JSON file, drops stale or fuzzy
guesses, compiles the .mo, and lists what is still untranslated. A lock serialises runs.
"""
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "locale" / "ja" / "LC_MESSAGES" / "django.po"
IGNORES = [".venv/*", "var/*", "tests/*", "bench/*", "training/engine/*", "node_modules/*", "scripts/*"]


def load_translations() -> dict:
    merged: dict = {}
    for path in sorted((ROOT / "i18n" / "ja").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        merged.update(data)
    return merged


def fill(po: polib.POFile, translations: dict) -> list[str]:
    missing = []
    for entry in po:
        if entry.obsolete:
            continue
        value = translations.get(entry.msgid)
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        entry.previous_msgid = entry.previous_msgid_plural = entry.previous_msgctxt = None
        if entry.msgid_plural:
            forms = value if isinstance(value, list) else ([value] if value else [])
            entry.msgstr_plural = {0: forms[0]} if forms else {0: ""}
            if not forms:
                missing.append(entry.msgid)
        else:
            entry.msgstr = value if isinstance(value, str) else ""
            if not entry.msgstr:
                missing.append(entry.msgid)
    return missing


def main() -> int:
    lock_path = ROOT / "var" / "messages.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manage = [sys.executable, str(ROOT / "manage.py")]
        ignore_args = [arg for pattern in IGNORES for arg in ("--ignore", pattern)]
        subprocess.run(manage + ["makemessages", "-l", "ja", "--no-obsolete", "--no-location", *ignore_args],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        po = polib.pofile(str(PO_PATH), wrapwidth=0)
        po.metadata["Plural-Forms"] = "nplurals=1; plural=0;"
        po.metadata["Language"] = "ja"
        missing = fill(po, load_translations())
        po.save(str(PO_PATH))
        po.save_as_mofile(str(PO_PATH.with_suffix(".mo")))
    if missing:
        print(f"{len(missing)} untranslated msgid(s) in {PO_PATH.relative_to(ROOT)}:")
        for msgid in missing:
            print(f"  {msgid!r}")
        return 1
    print(f"{PO_PATH.relative_to(ROOT)}: all {len(po)} messages translated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
