"""The one text file inside an uploaded .zip (how Aozora Bunko distributes its works: a zip
holding one CP932 .txt, sometimes with images or a folder).

Nothing is extracted to disk: the text entry is read into memory, at most `max_bytes` of it,
so entry names cannot reach the file system. Still, names that try to leave the archive
(absolute, "..", drive letters) are refused outright, as are nested archives, encrypted
entries, too many entries, and compression ratios that only a zip bomb has.
"""
import io
import posixpath
import zipfile

from .errors import DatasetError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty archive
TEXT_EXTENSIONS = (".txt", ".md", ".jsonl", ".csv")
ARCHIVE_EXTENSIONS = (".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".lzh")
MAX_ENTRIES = 100
MAX_RATIO = 100  # uncompressed / compressed; text compresses 3-10 times, a bomb thousands
RATIO_CHECK_FROM = 1 << 20  # small entries cannot hurt, whatever their ratio


def is_zip(data: bytes, filename: str = "") -> bool:
    return data[:4] in ZIP_MAGIC or str(filename).lower().endswith(".zip")


def _unsafe(name: str) -> bool:
    normalized = name.replace("\\", "/")
    return (normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":")
            or ".." in normalized.split("/") or "\x00" in normalized)


def _ignored(name: str) -> bool:
    """Folders and the metadata files that macOS adds to archives."""
    base = posixpath.basename(name.replace("\\", "/"))
    return name.endswith(("/", "\\")) or name.startswith("__MACOSX/") or base.startswith("._") or base in (
        ".DS_Store", "Thumbs.db")


def _display(name: str) -> str:
    """The entry name for messages: its last part, printable, short."""
    base = posixpath.basename(name.replace("\\", "/"))
    return "".join(ch for ch in base if ch.isprintable())[:80]


def text_from_zip(data: bytes, *, max_bytes: int) -> tuple[bytes, str]:
    """(bytes of the one text entry, its file name without folders); raises DatasetError."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise DatasetError("The .zip file is damaged or not a zip file.", code="zip_invalid") from None
    if len(entries) > MAX_ENTRIES:
        raise DatasetError(f"The .zip file holds {len(entries)} entries; at most {MAX_ENTRIES} are read.",
                           code="zip_too_many", params={"entries": len(entries), "max_entries": MAX_ENTRIES})
    texts = []
    for entry in entries:
        name = entry.filename
        if _unsafe(name):
            raise DatasetError("The .zip file has an entry whose name points outside the archive.",
                               code="zip_unsafe", params={"name": _display(name)})
        if _ignored(name):
            continue
        lower = name.lower()
        if lower.endswith(ARCHIVE_EXTENSIONS):
            raise DatasetError("The .zip file holds another archive; put the text file itself in the zip.",
                               code="zip_nested", params={"name": _display(name)})
        if lower.endswith(TEXT_EXTENSIONS):
            texts.append(entry)
    if not texts:
        raise DatasetError("The .zip file holds no text file (.txt, .jsonl or .csv).", code="zip_no_text")
    if len(texts) > 1:
        names = [_display(e.filename) for e in texts]
        raise DatasetError(f"The .zip file holds {len(texts)} text files; put only one in it.",
                           code="zip_many_texts", params={"count": len(texts), "names": names[:5]})
    entry = texts[0]
    if entry.flag_bits & 0x1:
        raise DatasetError("The text file in the .zip is encrypted.", code="zip_encrypted",
                           params={"name": _display(entry.filename)})
    if entry.file_size > max_bytes:
        raise DatasetError("The text file in the .zip is too large.", code="too_large",
                           params={"bytes": entry.file_size, "max_bytes": max_bytes})
    if entry.file_size >= RATIO_CHECK_FROM and entry.file_size > MAX_RATIO * max(1, entry.compress_size):
        raise DatasetError("The .zip file is compressed suspiciously well (a zip bomb?).", code="zip_bomb",
                           params={"name": _display(entry.filename)})
    try:
        with archive.open(entry) as stream:
            content = stream.read(max_bytes + 1)  # the header's size may lie: never read past the cap
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, ValueError):
        raise DatasetError("The .zip file is damaged or uses an unsupported compression.",
                           code="zip_invalid") from None
    if len(content) > max_bytes:
        raise DatasetError("The text file in the .zip is too large.", code="too_large",
                           params={"bytes": len(content), "max_bytes": max_bytes})
    return content, _display(entry.filename)
