"""Reading a student's text file (.txt, .jsonl or .csv) into documents, with refusals a
student can act on."""
import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass

from .config import CorpusLimits
from .encodings import decode_text, normalize_newlines
from .errors import DatasetError

# A txt file is cut into pieces of about this many characters (at line ends) so that
# tokenizing is batched; pieces are joined back without separators, so nothing changes.
TXT_PIECE_CHARS = 4000


@dataclass
class Corpus:
    documents: list[str]  # one per jsonl line / csv row; a txt file gives one document
    pieces: list[str]  # what gets tokenized: documents, with big txt documents cut at line ends
    separate_documents: bool  # whether an end-of-text token goes between documents
    bytes: int

    @property
    def text_chars(self) -> int:
        return sum(len(d) for d in self.documents)


def read_corpus(path: str, *, max_bytes: int, limits: CorpusLimits | None = None) -> Corpus:
    size = os.path.getsize(path)
    if size > max_bytes:
        raise DatasetError(
            f"The file is too large: {size} bytes, the limit is {max_bytes} bytes.",
            code="too_large", params={"bytes": size, "max_bytes": max_bytes},
        )
    with open(path, "rb") as f:
        data = f.read()
    return corpus_from_text(_decode(data), _kind(path), size=size, limits=limits or CorpusLimits())


def corpus_from_text(text: str, kind: str, *, size: int, limits: CorpusLimits) -> Corpus:
    """The documents of a decoded text of one kind ("txt", "jsonl", "csv": see READERS)."""
    check_lines(text, limits)
    documents = [d for d in READERS[kind](text, limits) if d.strip()]
    if not documents:
        raise DatasetError("The file contains no text.", code="empty")
    if kind == "txt":
        pieces = _cut_at_lines(documents[0], TXT_PIECE_CHARS)
    else:
        pieces = documents
    return Corpus(documents=documents, pieces=pieces, separate_documents=kind != "txt", bytes=size)


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return {".jsonl": "jsonl", ".csv": "csv"}.get(ext, "txt")


def _decode(data: bytes) -> str:
    """Stored datasets are UTF-8 already (see prepare.py); a file placed by other means
    (the admin, a seed) is decoded the same way an upload is."""
    text, _encoding = decode_text(data)
    return normalize_newlines(text)[0]


def check_lines(text: str, limits: CorpusLimits) -> None:
    """Refuse a text with too many lines or too long a line (counted in C: cheap even for
    the millions of lines these caps exist for)."""
    lines = text.count("\n") + (not text.endswith("\n"))
    if lines > limits.max_lines:
        raise DatasetError(f"The file has {lines} lines; the limit is {limits.max_lines}.",
                           code="too_many_lines", params={"lines": lines, "max_lines": limits.max_lines})
    if len(text) <= limits.max_line_chars:
        return
    lengths = [len(line) for line in text.split("\n")]
    longest = max(lengths)
    if longest > limits.max_line_chars:
        number = next(n for n, length in enumerate(lengths, start=1) if length > limits.max_line_chars)
        raise DatasetError(
            f"Line {number} has {longest} characters; the limit is {limits.max_line_chars}.",
            code="line_too_long", params={"line": number, "chars": lengths[number - 1],
                                          "max_chars": limits.max_line_chars})


def _txt_documents(text: str, limits: CorpusLimits) -> list[str]:
    return [text]


def json_line(line: str, number: int, limits: CorpusLimits):
    """One .jsonl line parsed, refused with a line number when it is not JSON or nested deeper
    than the limit (the parser would run out of stack far below what a line may hold)."""
    try:
        record = json.loads(line)
    except RecursionError:
        raise too_deep(number, limits) from None
    except ValueError:
        raise DatasetError(
            f"Line {number} is not valid JSON.", code="jsonl_invalid", params={"line": number}
        ) from None
    if json_depth(record) > limits.max_json_depth:
        raise too_deep(number, limits)
    return record


def json_depth(value) -> int:
    """How deep arrays and objects nest in a parsed JSON value (a string or number is 0)."""
    depth, level = 0, [value]
    while level:
        containers = [item for item in level if isinstance(item, (dict, list))]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def too_deep(number: int, limits: CorpusLimits) -> DatasetError:
    return DatasetError(f"Line {number} nests JSON deeper than {limits.max_json_depth} levels.",
                        code="json_too_deep", params={"line": number, "max_depth": limits.max_json_depth})


def _jsonl_documents(text: str, limits: CorpusLimits) -> list[str]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = json_line(line, number, limits)
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DatasetError(
                f'Line {number} has no "text" field with a string.',
                code="jsonl_missing_text", params={"line": number},
            )
        documents.append(record["text"])
    return documents


def _csv_documents(text: str, limits: CorpusLimits) -> list[str]:
    csv.field_size_limit(max(len(text), 131072))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    if "text" not in columns:
        raise DatasetError(
            'The CSV file has no "text" column.',
            code="csv_missing_text", params={"columns": list(columns)[:20]},
        )
    try:
        return [row["text"] or "" for row in reader]
    except csv.Error as exc:
        raise DatasetError(f"The CSV file cannot be read: {exc}.", code="csv_invalid",
                           params={"line": reader.line_num}) from None


# One reader per kind of file: the text in, its documents out (one per .jsonl line or .csv
# row; a .txt file is one document). A new format adds its reader here and its extension
# to prepare.KINDS / _kind.
READERS = {"txt": _txt_documents, "jsonl": _jsonl_documents, "csv": _csv_documents}


def _cut_at_lines(text: str, piece_chars: int) -> list[str]:
    pieces, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line)
        if size >= piece_chars:
            pieces.append("".join(current))
            current, size = [], 0
    if current:
        pieces.append("".join(current))
    return pieces


# Hiragana, katakana, CJK ideographs, Japanese punctuation, full-width and half-width forms;
# not the ideographic space U+3000, which is whitespace (Aozora Bunko indents every paragraph
# with one) and so not among the visible characters the share is taken of.
JAPANESE_CHARS = re.compile("[\u3001-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
WHITESPACE = re.compile(r"\s")


REPEATED_LINES_SHOWN = 5
REPEATED_LINE_CHARS = 80


def text_figures(documents: list[str]) -> dict:
    """Characters, lines, duplicate lines (and the most repeated ones) and the share of
    Japanese characters."""
    chars = lines = japanese = visible = 0
    counts: Counter[str] = Counter()
    for document in documents:
        chars += len(document)
        for line in document.splitlines():
            lines += 1
            key = line.strip()
            if key:
                counts[key] += 1
        visible += len(document) - len(WHITESPACE.findall(document))
        japanese += len(JAPANESE_CHARS.findall(document))
    duplicates = sum(count - 1 for count in counts.values())
    repeated = [{"line": line[:REPEATED_LINE_CHARS], "count": count}
                for line, count in counts.most_common(REPEATED_LINES_SHOWN) if count > 1]
    return {
        "chars": chars, "lines": lines, "duplicate_lines": duplicates, "repeated_lines": repeated,
        "japanese_share": round(japanese / visible, 4) if visible else 0.0,
    }
