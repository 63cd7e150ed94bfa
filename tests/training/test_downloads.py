"""Archive downloads: streamed in blocks with byte ranges (a stopped download resumes), or
handed to the proxy (X-Accel-Redirect for nginx, X-Sendfile for Apache) when DOWNLOAD_ACCEL
names one, so no web worker is held for the length of a download."""
import pytest
from django.urls import reverse

from tests.factories import make_finished_run
from training.conf import runs_root

pytestmark = pytest.mark.django_db
CONTENT = bytes(range(256)) * 40 + b"end"  # 10243 bytes
SIZE = len(CONTENT)


@pytest.fixture
def archive(alice, corpus):
    run = make_finished_run(alice, corpus)
    run.archive_path.write_bytes(CONTENT)
    return run


def download(client, run, **headers):
    return client.get(reverse("training:run_download", args=[run.code]), **headers)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_whole_file_streams_with_its_validators(alice_client, archive):
    response = download(alice_client, archive)
    assert response.status_code == 200 and response.streaming
    assert body(response) == CONTENT
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="llmschool-{archive.code}.zip"'
    assert response["ETag"] and response["Last-Modified"]


@pytest.mark.parametrize(("header", "first", "last"), [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, SIZE - 1), ("bytes=5000-5000", 5000, 5000),
    ("bytes=10000-99999", 10000, SIZE - 1), ("bytes=-3", SIZE - 3, SIZE - 1), ("bytes=-99999", 0, SIZE - 1),
])
def test_a_range_gets_206_with_just_those_bytes(alice_client, archive, header, first, last):
    response = download(alice_client, archive, HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == CONTENT[first:last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}", "bytes=-0"])
def test_an_unsatisfiable_range_gets_416(alice_client, archive, header):
    response = download(alice_client, archive, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert response.content == b""


@pytest.mark.parametrize("header", ["bytes=5-1", "bytes=abc", "items=0-5", "bytes=0-1,5-6", "bytes=-", "bytes= 1-2x"])
def test_a_malformed_or_multiple_range_gets_the_whole_file(alice_client, archive, header):
    response = download(alice_client, archive, HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == CONTENT


def test_if_range_resumes_only_the_same_file(alice_client, archive):
    etag = download(alice_client, archive)["ETag"]
    same = download(alice_client, archive, HTTP_RANGE="bytes=10-19", HTTP_IF_RANGE=etag)
    assert same.status_code == 206 and body(same) == CONTENT[10:20]
    changed = download(alice_client, archive, HTTP_RANGE="bytes=10-19", HTTP_IF_RANGE='"another-version"')
    assert changed.status_code == 200 and body(changed) == CONTENT


def test_ranges_are_owner_scoped_like_the_whole_file(client, bob, archive):
    client.force_login(bob)
    assert download(client, archive, HTTP_RANGE="bytes=0-9").status_code == 404


def test_nginx_gets_an_internal_redirect_and_no_bytes(alice_client, archive, settings):
    settings.DOWNLOAD_ACCEL = "nginx"
    settings.DOWNLOAD_ACCEL_PREFIX = "/protected-runs/"
    response = download(alice_client, archive, HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200 and response.content == b""
    relative = archive.archive_path.relative_to(runs_root()).as_posix()
    assert response["X-Accel-Redirect"] == f"/protected-runs/{relative}"
    assert response["Content-Disposition"] == f'attachment; filename="llmschool-{archive.code}.zip"'
    assert response["Content-Type"] == "application/zip"


def test_apache_gets_x_sendfile_with_the_absolute_path(alice_client, archive, settings):
    settings.DOWNLOAD_ACCEL = "apache"
    response = download(alice_client, archive)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Sendfile"] == str(archive.archive_path.resolve())
    assert "X-Accel-Redirect" not in response


def test_the_proxy_modes_keep_other_users_out(client, bob, archive, settings):
    settings.DOWNLOAD_ACCEL = "nginx"
    client.force_login(bob)
    response = download(client, archive)
    assert response.status_code == 404 and "X-Accel-Redirect" not in response


def test_byte_range_on_an_empty_file():
    from training.downloads import UNSATISFIABLE, byte_range

    assert byte_range("bytes=0-", 0) == UNSATISFIABLE
    assert byte_range("bytes=-5", 0) == UNSATISFIABLE
    assert byte_range("", 0) is None
