"""Serving a model archive once the view has decided who may have it.

With DOWNLOAD_ACCEL set, the proxy sends the file (nginx: X-Accel-Redirect to an `internal`
location; Apache: X-Sendfile) and the web worker is free at once; the proxy also answers
byte ranges. Otherwise Django streams the file itself in blocks and answers a single byte
range (206 with Content-Range, 416 when it lies past the end), so an interrupted download
of a large archive resumes where it stopped.
"""
import os
import re
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header, http_date

SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
UNSATISFIABLE = "unsatisfiable"


class ArchiveResponse(FileResponse):
    block_size = 64 * 1024


class _Slice:
    """Reads `length` bytes of `handle` from where it stands (a byte range of the file)."""

    def __init__(self, handle, length: int):
        self.handle, self.left = handle, length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.handle.read(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def byte_range(header: str, size: int):
    """(first, last) for a single satisfiable range, UNSATISFIABLE, or None to send the whole
    file (no header, another unit, several ranges or bad syntax: RFC 9110 lets a server ignore it)."""
    match = SINGLE_RANGE.match((header or "").strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - length), size - 1
    first = int(first)
    if last and int(last) < first:
        return None
    if first >= size:
        return UNSATISFIABLE
    return first, min(int(last) if last else size - 1, size - 1)


def _validators(stat) -> tuple[str, str]:
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"', http_date(stat.st_mtime)


def _range_applies(request, etag: str, last_modified: str) -> bool:
    """If-Range: a range of the file the client already has a part of, or the whole (new) file."""
    condition = request.headers.get("If-Range")
    return condition is None or condition.strip() in (etag, last_modified)


def _accelerated(path: Path, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="application/zip")
    if settings.DOWNLOAD_ACCEL == "nginx":
        from training.conf import runs_root

        relative = path.resolve().relative_to(runs_root().resolve()).as_posix()
        response["X-Accel-Redirect"] = settings.DOWNLOAD_ACCEL_PREFIX.rstrip("/") + "/" + quote(relative)
    else:
        response["X-Sendfile"] = str(path.resolve())
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def archive_response(request, path: Path, filename: str) -> HttpResponse:
    if settings.DOWNLOAD_ACCEL:
        return _accelerated(path, filename)
    handle = open(path, "rb")
    stat = os.fstat(handle.fileno())
    etag, last_modified = _validators(stat)
    wanted = byte_range(request.headers.get("Range", ""), stat.st_size)
    if wanted is not None and not _range_applies(request, etag, last_modified):
        wanted = None
    if wanted == UNSATISFIABLE:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{stat.st_size}"
    elif wanted is None:
        response = ArchiveResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")
    else:
        first, last = wanted
        handle.seek(first)
        response = ArchiveResponse(_Slice(handle, last - first + 1), status=206, as_attachment=True,
                                   filename=filename, content_type="application/zip")
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{stat.st_size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"], response["Last-Modified"] = etag, last_modified
    return response
