"""From the bytes a student uploads to the UTF-8 text the site stores and trains on.

`prepare_text` unpacks a .zip holding one text file, detects the encoding, turns CRLF and
CR into LF and, in a plain text, removes Aozora Bunko notation unless the student keeps it.
It is pure (bytes in, text and a report out), so the upload request, a background job or
a re-cleaning with other choices can all call it.
"""
import os
from dataclasses import asdict, dataclass, field

from . import aozora
from .archives import is_zip, text_from_zip
from .config import DEFAULT_MAX_BYTES, CorpusLimits
from .corpus import check_lines
from .encodings import decode_text, display_name, normalize_newlines
from .errors import DatasetError

KINDS = {".jsonl": "jsonl", ".csv": "csv"}  # anything else is plain text


@dataclass
class PreparationReport:
    kind: str  # "txt" | "jsonl" | "csv": how the stored file is read
    encoding: str  # codec name, e.g. "cp932"
    encoding_name: str  # for people, e.g. "Shift_JIS (CP932)"
    upload_bytes: int
    zip_member: str = ""  # the text file's name inside the zip (display only, never a path)
    newlines_converted: int = 0
    keep_notation: bool = False
    notation: dict = field(default_factory=dict)  # aozora.NotationReport as a dict

    def to_dict(self) -> dict:
        return asdict(self)


def kind_of(filename: str) -> str:
    return KINDS.get(os.path.splitext(str(filename))[1].lower(), "txt")


def prepare_text(raw: bytes, filename: str = "", *, keep_notation: bool = False,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 limits: CorpusLimits | None = None) -> tuple[str, PreparationReport]:
    """(UTF-8-ready text with LF line ends, report); raises DatasetError (empty, binary,
    unknown_encoding, too_large, too_many_lines, line_too_long, zip_*) when the upload cannot
    be read as text (the line caps come before the Aozora clean-up, which reads every line)."""
    if len(raw) > max_bytes:
        raise DatasetError(f"The file is too large: {len(raw)} bytes, the limit is {max_bytes} bytes.",
                           code="too_large", params={"bytes": len(raw), "max_bytes": max_bytes})
    upload_bytes, member = len(raw), ""
    if is_zip(raw, filename):
        raw, member = text_from_zip(raw, max_bytes=max_bytes)
        filename = member
    text, encoding = decode_text(raw)
    text, converted = normalize_newlines(text)
    check_lines(text, limits or CorpusLimits())
    kind = kind_of(filename)
    report = PreparationReport(kind=kind, encoding=encoding, encoding_name=display_name(encoding),
                               upload_bytes=upload_bytes, zip_member=member, newlines_converted=converted,
                               keep_notation=keep_notation)
    if kind == "txt":
        if keep_notation:
            notation = aozora.NotationReport(detected=aozora.detect(text), chars_before=len(text),
                                             chars_after=len(text))
        else:
            text, notation = aozora.clean(text)
        report.notation = notation.to_dict()
    if not text.strip():
        raise DatasetError("The file contains no text.", code="empty")
    return text, report
