"""Texts as Japanese students have them, through the upload form: an Aozora Bunko zip in
Shift_JIS with CRLF, other encodings, keeping or removing the notation, repeated lines."""
from pathlib import Path

import pytest
from django.urls import reverse

from tests.aozora_sample import CLEAN_BODY_LINES, MARKUP, aozora_text, aozora_zip
from tests.factories import make_checked_dataset, make_text, run_pending_checks, upload
from training.models import Dataset

pytestmark = pytest.mark.django_db

NOVEL = aozora_text(repeats=30)  # enough text for training blocks


def stored_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def post(client, filename, content, **fields):
    """Upload through the form, then run the check job (as the `default` worker would)."""
    response = client.post(reverse("training:datasets"), {"file": upload(filename, content), **fields},
                           HTTP_ACCEPT_LANGUAGE="en")
    run_pending_checks()
    return response


def test_an_aozora_zip_in_shift_jis_is_unpacked_decoded_and_cleaned(alice_client, bases, settings):
    raw = aozora_zip(NOVEL, extra={"yama/fig01.png": b"\\x89PNG fake"})
    response = post(alice_client, "yama_tegami.zip", raw)
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and not dataset.error_code
    assert dataset.name == "yama_tegami.zip" and dataset.encoding == "cp932"

    stored = Path(dataset.file.path)
    text = stored.read_bytes().decode("utf-8")  # stored as UTF-8, with LF line ends
    assert "\r" not in text and "\n".join(CLEAN_BODY_LINES) in text and text.startswith("山の手紙\n森川花子\n")
    for mark in MARKUP:
        assert mark not in text, mark
    assert dataset.size_bytes == stored.stat().st_size and stored.suffix == ".txt"
    # The original is kept (for "keep the notation"), under a generated name too.
    assert Path(dataset.original.path).read_bytes() == raw
    for path in stored_files(settings):
        assert "yama" not in path.name and path.resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())

    preparation = dataset.preparation
    assert preparation["zip_member"] == "yama.txt" and preparation["encoding_name"] == "Shift_JIS (CP932)"
    assert preparation["notation"]["ruby"] == 60 and preparation["notation"]["header"]

    page = alice_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Shift_JIS (CP932)" in page and "yama.txt" in page and "Aozora Bunko notation" in page
    assert "山路《やまみち》を登りながら" in page and "Keep the notation instead" in page
    assert "Most repeated lines" in page  # the body repeats 30 times


def test_the_clean_text_is_what_training_reads(alice, bases):
    from training.engine.corpus import read_corpus

    dataset = make_checked_dataset(alice, upload("yama.zip", aozora_zip(NOVEL)))
    corpus = read_corpus(str(dataset.path), max_bytes=10 * 2**20)
    assert corpus.documents == [dataset.path.read_text(encoding="utf-8")]
    assert not any(mark in corpus.documents[0] for mark in MARKUP)


def test_the_notation_can_be_kept_on_upload_and_removed_later(alice_client, bases, settings):
    response = post(alice_client, "yama.txt", NOVEL.encode("utf-8"), keep_notation="on")
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and dataset.keep_notation
    assert dataset.path.read_text(encoding="utf-8") == NOVEL
    page = alice_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "you chose to keep it" in page and "Remove the notation" in page

    old_path = dataset.path
    response = alice_client.post(reverse("training:dataset_notation", args=[dataset.code]), {"keep_notation": "0"})
    dataset.refresh_from_db()
    assert dataset.is_checking and not dataset.is_usable  # prepared again by a job; no run can use it meanwhile
    assert run_pending_checks() == 1
    dataset.refresh_from_db()
    assert response.status_code == 302 and not dataset.keep_notation and not old_path.exists()
    assert "《" not in dataset.path.read_text(encoding="utf-8") and dataset.notation["removed"]
    assert len(stored_files(settings)) == 2  # the cleaned text and the original, nothing left over

    alice_client.post(reverse("training:dataset_notation", args=[dataset.code]), {"keep_notation": "1"})
    run_pending_checks()
    dataset.refresh_from_db()
    assert dataset.path.read_text(encoding="utf-8") == NOVEL


def test_only_the_owner_can_reclean_and_not_under_a_running_run(alice, bob, bases, client):
    from training.models import TrainingRun

    dataset = make_checked_dataset(alice, upload("yama.txt", NOVEL.encode("cp932")))
    client.force_login(bob)
    assert client.post(reverse("training:dataset_notation", args=[dataset.code]), {"keep_notation": "1"}
                       ).status_code == 404
    TrainingRun.objects.create(owner=alice, dataset=dataset, base_model=bases["tiny"], status=TrainingRun.RUNNING)
    client.force_login(alice)
    client.post(reverse("training:dataset_notation", args=[dataset.code]), {"keep_notation": "1"})
    dataset.refresh_from_db()
    assert not dataset.keep_notation and "《" not in dataset.path.read_text(encoding="utf-8")


def test_a_plain_utf8_text_keeps_no_original(alice, bases):
    dataset = make_checked_dataset(alice, upload("plain.txt"))
    assert not dataset.original and dataset.encoding == "utf_8" and not dataset.notation.get("detected")


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("euc_jp", "EUC-JP"), ("utf-8-sig", "UTF-8 (BOM)"),
                                            ("utf-16-le", "UTF-16 LE (no BOM)"), ("utf-16-be", "UTF-16 BE (no BOM)")])
def test_other_encodings_are_read_and_named_on_the_page(alice_client, bases, encoding, name):
    text = "吾輩は猫である。名前はまだ無い。\r\n" * 60
    response = post(alice_client, "neko.txt", text.encode(encoding))
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert dataset.path.read_text(encoding="utf-8") == text.replace("\r\n", "\n")
    page = alice_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert name in page and "line ends" in page


def test_repeated_lines_are_listed_with_their_counts(alice_client, bases):
    text = "今日の一句\n" * 9 + make_text(200)
    response = post(alice_client, "diary.txt", text.encode())
    page = alice_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Most repeated lines" in page and "<span class=\"text-line\">今日の一句</span></td><td>9</td>" in page


@pytest.mark.parametrize("entries, message", [
    ({"fig.png": b"png"}, "holds no text file"),
    ({"a.txt": b"one " * 500, "b.txt": b"two " * 500}, "holds 2 text files (a.txt, b.txt)"),
    ({"../evil.txt": b"one " * 500}, "points outside the archive"),
])
def test_unusable_zips_are_refused_and_no_file_is_kept(alice_client, bases, settings, entries, message):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)
    response = post(alice_client, "bad.zip", buffer.getvalue())
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert dataset.check_status == Dataset.FAILED and not dataset.is_usable
    assert message in alice_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert stored_files(settings) == []


def test_deleting_a_dataset_removes_the_original_too(alice_client, alice, bases, settings):
    dataset = make_checked_dataset(alice, upload("yama.zip", aozora_zip(NOVEL)))
    assert len(stored_files(settings)) == 2
    alice_client.post(reverse("training:dataset_delete", args=[dataset.code]))
    assert stored_files(settings) == []


def test_the_dataset_page_speaks_japanese(alice_client, alice, bases):
    alice.preferred_language = "ja"
    alice.save()
    response = alice_client.post(reverse("training:datasets"), {"file": upload("yama.zip", aozora_zip(NOVEL))})
    run_pending_checks()
    page = alice_client.get(response.url).content.decode()
    assert "青空文庫の記法" in page and "ルビ" in page and "Shift_JIS (CP932)" in page
