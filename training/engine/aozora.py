"""Aozora Bunko notation (青空文庫記法): detecting it and removing it, so a model learns the
novel and not the markup (about a seventh of the characters of a typical file).

What is removed:
- ruby: 漢字《かんじ》 and ｜base《reading》 keep the base text;
- editor notes ［＃…］ (headings, indents, emphasis, page breaks); a line that held only
  notes goes away with them;
- gaiji notes ※［＃「description」、第3水準1-85-25］ become the character when the note
  names it (a JIS X 0213 plane-row-cell code, or U+XXXX); otherwise the ※ and the note go;
- the header legend between two lines of hyphens that starts with
  【テキスト中に現れる記号について】 (the title and author lines above it stay);
- the 底本： footer at the end (bibliography and the volunteers' credits).

A regular-expression cleaner rather than a parser: removing notation does not need the
structure a renderer needs (where a ruby's base starts, what a note applies to), and it
keeps exact counts. The `aozora` parser on PyPI (0.4/0.5) was tried: it resolves gaiji
notes that give only a page and line (「土へん＋竒」、183-2) to a wrong character (坪).
"""
import re
from dataclasses import asdict, dataclass, field

HEADER_TITLE = "【テキスト中に現れる記号について】"
HYPHEN_LINE = re.compile(r"^-{20,}[ \t]*$")
FOOTER_START = re.compile(r"^底本[：:]")
# The footer is looked for in the last lines only, so a 底本： quoted in the body stays.
FOOTER_SEARCH_LINES = 120

GAIJI = re.compile(r"※［＃([^［］\n]*)］")
NOTE = re.compile(r"［＃[^［］\n]*］")  # innermost notes first; nested ones go in later passes
NOTES_ONLY_LINE = re.compile(r"^[ \t\u3000]*(?:［＃[^［］\n]*］[ \t\u3000]*)+(?:\n|$)", re.MULTILINE)
MARKED = re.compile("[《｜］]")
RUBY_WITH_BAR = re.compile(r"｜([^｜《》\n]+?)《[^《》\n]{1,60}?》")
RUBY = re.compile(r"《[^《》\n]{1,60}?》")
KANA_RUBY = re.compile(r"[\u4e00-\u9fff\u3005\u3006\u30f6\u3400-\u4dbf]《[\u3041-\u30ff\u30fc]{1,30}》")
JIS_CODE = re.compile(r"(?<![\d-])([12])-(\d{1,2})-(\d{1,2})(?![\d-])")
UNICODE_CODE = re.compile(r"U\+([0-9A-Fa-f]{4,6})")

PREVIEW_LINES = 5


@dataclass
class NotationReport:
    detected: bool = False
    removed: bool = False
    ruby: int = 0
    notes: int = 0
    gaiji: int = 0  # gaiji notes replaced by their character
    gaiji_dropped: int = 0  # gaiji notes that named no character: ※ and note removed
    header: bool = False
    footer: bool = False
    chars_before: int = 0
    chars_after: int = 0
    preview: list[dict] = field(default_factory=list)  # [{"before": line, "after": line}]

    def to_dict(self) -> dict:
        return asdict(self)


def detect(text: str) -> bool:
    """Whether the text uses Aozora Bunko notation: its header legend, its footer, an editor
    note, or ruby readings in kana after kanji (《》 alone are also ordinary quotes)."""
    return (HEADER_TITLE in text or "［＃" in text or bool(KANA_RUBY.search(text))
            or _footer_start(text.split("\n")) is not None)


def gaiji_character(note: str) -> str | None:
    """The character a gaiji note names, from a JIS X 0213 code (第3水準1-85-25, 1-2-22) or U+XXXX."""
    code = UNICODE_CODE.search(note)
    if code:
        value = int(code.group(1), 16)
        if value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
            return chr(value)
    jis = JIS_CODE.search(note)
    if jis:
        plane, row, cell = (int(n) for n in jis.groups())
        if 1 <= row <= 94 and 1 <= cell <= 94:
            raw = bytes([0xA0 + row, 0xA0 + cell]) if plane == 1 else bytes([0x8F, 0xA0 + row, 0xA0 + cell])
            try:
                character = raw.decode("euc_jis_2004")
            except UnicodeDecodeError:
                return None
            return character or None
    return None


def clean(text: str) -> tuple[str, NotationReport]:
    """The text without Aozora notation, and what was removed. Expects LF line ends.

    The substitutions run over the whole text at once (a novel is a few megabytes: line by
    line in Python takes seconds); the preview cleans its few lines one by one the same way."""
    report = NotationReport(detected=detect(text), chars_before=len(text))
    if not report.detected:
        report.chars_after = len(text)
        return text, report
    lines = text.split("\n")
    lines, report.header = _without_header(lines)
    lines, report.footer = _without_footer(lines)
    body = "\n".join(lines)
    report.preview = _preview(lines)
    cleaned = _remove_notation(body, report)
    cleaned = cleaned.strip("\n") + "\n"
    report.removed = True
    report.chars_after = len(cleaned)
    return cleaned, report


def _remove_notation(text: str, report: NotationReport) -> str:
    def gaiji(match):
        character = gaiji_character(match.group(1))
        if character is None:
            report.gaiji_dropped += 1
            return ""
        report.gaiji += 1
        return character

    text = GAIJI.sub(gaiji, text)
    # A line that holds only notes (a page break, an indent) goes with them.
    for note_line in NOTES_ONLY_LINE.findall(text):
        report.notes += note_line.count("［＃")
    text = NOTES_ONLY_LINE.sub("", text)
    for _pass in range(5):  # notes nested in notes: innermost first
        text, count = NOTE.subn("", text)
        report.notes += count
        if not count:
            break
    text, count = RUBY_WITH_BAR.subn(r"\1", text)
    report.ruby += count
    text, count = RUBY.subn("", text)
    report.ruby += count
    return text


def _preview(lines: list[str]) -> list[dict]:
    """The first few lines that hold notation, before and after cleaning ("" when the line goes)."""
    preview = []
    for line in lines:
        if not MARKED.search(line):
            continue
        after = _remove_notation(line + "\n", NotationReport()).removesuffix("\n")
        if after != line:
            preview.append({"before": line, "after": after})
            if len(preview) == PREVIEW_LINES:
                break
    return preview


def _without_header(lines: list[str]) -> tuple[list[str], bool]:
    """Drop the legend block: from the hyphen line just above 【テキスト中に現れる記号について】
    to the next hyphen line."""
    for index, line in enumerate(lines[:200]):
        if line.strip() != HEADER_TITLE:
            continue
        start = index - 1 if index and HYPHEN_LINE.match(lines[index - 1]) else index
        for end in range(index + 1, min(len(lines), index + 200)):
            if HYPHEN_LINE.match(lines[end]):
                return lines[:start] + lines[end + 1:], True
        return lines, False
    return lines, False


def _footer_start(lines: list[str]) -> int | None:
    first = max(0, len(lines) - FOOTER_SEARCH_LINES)
    for index in range(first, len(lines)):
        if FOOTER_START.match(lines[index]):
            return index
    return None


def _without_footer(lines: list[str]) -> tuple[list[str], bool]:
    start = _footer_start(lines)
    if start is None:
        return lines, False
    return lines[:start], True
