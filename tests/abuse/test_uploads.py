"""Hostile uploads: too big, binary, not UTF-8, empty, too many files, and file names that
try to leave the upload folder. Uploads refused at once (size, empty) leave nothing behind;
those refused by their check (a job: run here as the `default` worker would) keep only a
row that says why, no file; accepted ones are stored inside MEDIA_ROOT/datasets under a
generated name."""
import os
import uuid

import pytest
from django.urls import reverse

from tests.factories import make_user, run_pending_checks

GOOD_TEXT = ("吾輩は猫である。名前はまだ無い。The cat sat on the mat and looked at the sea.\n" * 120).encode()


def multipart(fields: dict, files: list[tuple[str, bytes | str, bytes]]) -> tuple[bytes, str]:
    """A multipart body built by hand, so the file name reaches Django exactly as sent
    (the test client would strip directories first)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for field_name, filename, content in files:
        raw = filename if isinstance(filename, bytes) else filename.encode("utf-8", "surrogateescape")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="'.encode()
                     + raw + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def student(client, db, media):
    user = make_user("uploader")
    client.force_login(user)
    return user


def upload(client, filename, content, **fields):
    body, content_type = multipart(fields, [("file", filename, content)])
    response = client.generic("POST", reverse("training:datasets"), body, content_type=content_type)
    run_pending_checks()
    return response


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, fs in os.walk(root) for f in fs)


def assert_nothing_kept(media):
    from training.models import Dataset

    assert not Dataset.objects.exists()
    assert files_under(media) == []


def assert_refused_and_no_file_kept(client, response, media):
    """Refused at once (400: no row) or by the check (the row says why); no file either way."""
    from training.models import Dataset

    if response.status_code == 400:
        assert not Dataset.objects.exists()
    else:
        assert response.status_code == 302
        dataset = Dataset.objects.get()
        assert dataset.check_status == Dataset.FAILED and dataset.error_code and not dataset.is_usable
        assert "alert-danger" in client.get(response.url).content.decode()
    assert files_under(media) == []


@pytest.mark.parametrize("content, message", [
    (b"", None),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, None),
    (b"hello world " * 100 + bytes([0x80, 0xFF, 0x81, 0xFE, 0x9F, 0xFD]) * 3, None),
    (b"\x00" * 5000, None),
    (b"short", None),
], ids=["empty", "png", "undecodable", "nul-bytes", "too-small"])
def test_unusable_files_are_refused_and_no_file_is_kept(client, student, media, content, message):
    response = upload(client, "corpus.txt", content)
    if response.status_code == 400:
        assert 'class="errorlist' in response.content.decode() or "error" in response.content.decode()
    assert_refused_and_no_file_kept(client, response, media)


@pytest.mark.parametrize("encoding", ["shift_jis", "cp932", "euc_jp", "utf-16", "utf-8-sig"])
def test_japanese_legacy_encodings_are_accepted_and_stored_as_utf8(client, student, media, encoding):
    """They used to be refused as "not UTF-8" (Shift_JIS) or "binary" (UTF-16)."""
    from training.models import Dataset

    text = "吾輩は猫である。名前はまだ無い。\r\n" * 200
    response = upload(client, "corpus.txt", text.encode(encoding))
    assert response.status_code == 302
    stored = Dataset.objects.get().path
    assert stored.read_bytes() == text.replace("\r\n", "\n").encode("utf-8")
    assert files_under(media) == [os.path.relpath(os.path.realpath(stored), os.path.realpath(media))]


def test_a_file_over_the_size_cap_is_refused_and_nothing_is_kept(client, student, media, settings):
    settings.DATASET_MAX_BYTES = 4096
    response = upload(client, "big.txt", GOOD_TEXT[:4097] if len(GOOD_TEXT) > 4097 else GOOD_TEXT * 10)
    assert response.status_code == 400
    assert_nothing_kept(media)


def test_the_size_cap_holds_in_the_service_too(student, media, settings):
    """The form is the first line; the service refuses on its own (admin, scripts)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from training.services import DatasetRejected, dataset_create

    settings.DATASET_MAX_BYTES = 1000
    with pytest.raises(DatasetRejected) as refused:
        dataset_create(owner=student, uploaded_file=SimpleUploadedFile("x.txt", GOOD_TEXT))
    assert refused.value.code == "too_large"
    assert_nothing_kept(media)


def test_more_files_than_allowed_in_one_request_is_a_400(client, student, media, settings):
    count = settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1
    body, content_type = multipart({}, [("file", f"f{i}.txt", GOOD_TEXT[:100]) for i in range(count)])
    response = client.generic("POST", reverse("training:datasets"), body, content_type=content_type)
    assert response.status_code == 400
    assert_nothing_kept(media)


PATH_LIKE_NAMES = [
    "../../../../etc/passwd.txt",
    "..\\..\\..\\windows\\win.ini.txt",
    "/etc/cron.d/evil.txt",
    "....//....//x.txt",
    "%2e%2e%2f%2e%2e%2fx.txt",
    "a" * 10_000 + ".txt",  # over Django's multipart header cap: a bare 400
    "b" * 1_000 + ".txt",
    "nul\x00byte.txt",
    "new\nline<script>.txt",
    "CON.txt",
    ".htaccess",
    "corpus.txt.exe",
    "日本語の/コーパス.txt",
    b"\xff\xfe\x80bad-utf8.txt",  # Django drops the file: "this field is required"
]


@pytest.mark.parametrize("filename", PATH_LIKE_NAMES, ids=lambda n: repr(n)[:30])
def test_path_like_file_names_are_stored_inside_media_under_a_generated_name(client, student, media, filename):
    from training.models import Dataset

    response = upload(client, filename, GOOD_TEXT)
    assert response.status_code in (302, 400)
    datasets = list(Dataset.objects.all())
    if response.status_code == 400:
        assert_nothing_kept(media)
        return
    assert len(datasets) == 1
    dataset = datasets[0]
    stored = os.path.realpath(dataset.file.path)
    assert stored.startswith(os.path.realpath(media / "datasets") + os.sep)
    basename = os.path.basename(stored)
    assert basename[:32] == uuid.UUID(basename[:32]).hex and basename[32:] in Dataset.ALLOWED_EXTENSIONS
    assert files_under(media) == [os.path.relpath(stored, os.path.realpath(media))]
    assert open(stored, "rb").read() == GOOD_TEXT
    # The label shown to people keeps no directories, control characters or overlong text.
    assert "/" not in dataset.name and "\\" not in dataset.name and "\x00" not in dataset.name
    assert "\n" not in dataset.name and len(dataset.name) <= 120
    page = client.get(reverse("training:dataset_detail", args=[dataset.code])).content.decode()
    assert "line<script>" not in page  # shown escaped, if at all


def test_the_name_field_cannot_smuggle_a_path_either(client, student, media):
    from training.models import Dataset

    response = upload(client, "corpus.txt", GOOD_TEXT, name="../../secret/../x")
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert "/" not in dataset.name
    assert os.path.realpath(dataset.file.path).startswith(os.path.realpath(media) + os.sep)


def _zip(entries: dict) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("entries", [
    {"bomb.txt": b"a" * (12 * 2**20)},  # over the 10 MiB cap once unpacked, 12 KiB packed
    {"../../../../tmp/evil.txt": GOOD_TEXT},
    {"/etc/cron.d/evil.txt": GOOD_TEXT},
    {"inner.zip": _zip({"a.txt": GOOD_TEXT})},
    {"a.txt": GOOD_TEXT, "b.txt": GOOD_TEXT},
], ids=["bomb", "traversal", "absolute", "nested", "two-texts"])
def test_hostile_zips_are_refused_and_nothing_is_kept(client, student, media, entries):
    response = upload(client, "corpus.zip", _zip(entries))
    assert_refused_and_no_file_kept(client, response, media)
