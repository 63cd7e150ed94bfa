"""Which encoding a text file is in, and its text as str.

Japanese students bring files in Shift_JIS (really Windows' CP932: Aozora Bunko uses its
extra characters such as ①), EUC-JP, UTF-16 with a byte-order mark, or UTF-8 with or
without one. A byte-order mark or a clean UTF-8 decoding decides at once. Otherwise the
Japanese legacy encodings are tried first (bytes holding NULs are tried as UTF-16 without
a byte-order mark before they are called binary), judged by how much kana the decoded text holds:
a general detector (charset-normalizer) often reads short Japanese files as Korean or
Chinese code pages (EUC-JP kana bytes are valid CP949 Hangul). Only when no Japanese
reading is plausible is charset-normalizer asked, and its answer is kept only when its
decoding is coherent; anything else is refused with the offset of the first byte that is
not UTF-8, so a student can find it.
"""
import codecs
import re

from .errors import DatasetError

# Tried in this order: CP932 before EUC-JP (Aozora Bunko's encoding); EUC-JIS-2004 after
# EUC-JP for the JIS X 0213 characters that plain EUC-JP lacks.
JAPANESE_ENCODINGS = ("cp932", "euc_jp", "euc_jis_2004")
# charset-normalizer's names for Japanese encodings, mapped to the codec we decode with.
JAPANESE_ALIASES = {"shift_jis": "cp932", "cp932": "cp932", "shift_jis_2004": "cp932", "shift_jisx0213": "cp932",
                    "euc_jp": "euc_jp", "euc_jis_2004": "euc_jis_2004", "euc_jisx0213": "euc_jis_2004"}
# A Japanese reading must have at least this share of kana among its non-ASCII characters.
MIN_KANA_SHARE = 0.15
SINGLE_BYTE_LATIN = ("cp125", "latin", "iso8859", "mac_")
# What a detector's guess may be, beyond the Japanese encodings: the legacy encodings of the
# languages around this site (Western European, Chinese, Korean). A mostly English file with
# a few stray bytes otherwise "decodes" as Cyrillic or Greek, which helps nobody.
DETECTED_ACCEPTED = {"cp1252", "latin_1", "iso8859_15", "gb18030", "gb2312", "big5", "big5hkscs", "cp949",
                     "euc_kr", *JAPANESE_ALIASES.values()}
# charset-normalizer's "chaos" (share of mess) above which its guess is not trusted.
MAX_CHAOS = 0.1

BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf_32"), (codecs.BOM_UTF32_BE, "utf_32"),
    (codecs.BOM_UTF8, "utf_8_sig"), (codecs.BOM_UTF16_LE, "utf_16"), (codecs.BOM_UTF16_BE, "utf_16"),
)

DISPLAY_NAMES = {
    "utf_8": "UTF-8", "utf_8_sig": "UTF-8 (BOM)", "utf_16": "UTF-16", "utf_32": "UTF-32",
    "utf_16_le": "UTF-16 LE (no BOM)", "utf_16_be": "UTF-16 BE (no BOM)",
    "cp932": "Shift_JIS (CP932)", "euc_jp": "EUC-JP", "euc_jis_2004": "EUC-JIS-2004", "ascii": "ASCII",
}

SHORT_TEXT_CHARS = 200
SAMPLE_CHARS = 200_000
# Japanese punctuation, kana, CJK ideographs and full-width forms (not half-width katakana).
FULL_WIDTH = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60\u2460-\u24ff]")
KANA = re.compile("[\u3041-\u309f\u30a0-\u30ff]")  # full-width hiragana and katakana (not half-width)


def display_name(encoding: str) -> str:
    """A name a student recognises ("Shift_JIS (CP932)", "UTF-16", "Windows-1252")."""
    if encoding in DISPLAY_NAMES:
        return DISPLAY_NAMES[encoding]
    if encoding.startswith("cp") and encoding[2:].isdigit():
        return f"Windows-{encoding[2:]}"
    return encoding.replace("_", "-").upper()


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, codec name) for the bytes of a text file; raises DatasetError empty, binary
    or unknown_encoding. A byte-order mark is not part of the text."""
    if not data.strip():
        raise DatasetError("The file is empty.", code="empty")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DatasetError("The file starts like UTF-16/UTF-32 text but does not decode as such.",
                                   code="binary", params={"offset": exc.start}) from None
            text = text.removeprefix("\ufeff")
            if not text.strip():
                raise DatasetError("The file is empty.", code="empty")
            if looks_binary_text(text):
                raise DatasetError("This looks like a binary file, not text.", code="binary")
            return text, encoding
    if b"\x00" in data[:8192]:
        reading = utf16_reading(data)
        if reading is not None:
            return reading
    if looks_binary(data):
        raise DatasetError("This looks like a binary file, not text.", code="binary")
    try:
        return data.decode("utf-8"), "utf_8"
    except UnicodeDecodeError as exc:
        bad_offset = exc.start
    japanese = japanese_reading(data)
    if japanese is not None:
        return japanese
    guessed = _charset_normalizer_reading(data)
    if guessed is not None:
        return guessed
    line = data.count(b"\n", 0, bad_offset) + 1
    raise DatasetError(
        f"The file's encoding was not recognised: it is not UTF-8 (bad byte at offset {bad_offset}, line {line}), "
        "Shift_JIS, EUC-JP or UTF-16.",
        code="unknown_encoding", params={"offset": bad_offset, "line": line},
    )


# What text in a language around this site is made of: tabs and line ends, printable ASCII,
# Latin, Greek and Cyrillic letters, general punctuation, CJK punctuation, kana, ideographs,
# Hangul and full-width forms. Random bytes read as UTF-16 are mostly something else.
TEXT_CHARS = re.compile("[\t\n\r\x20-\x7e\xa0-\u052f\u2000-\u206f\u2460-\u24ff\u3000-\u30ff"
                        "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
MIN_TEXT_SHARE = 0.95


def utf16_reading(data: bytes) -> tuple[str, str] | None:
    """UTF-16 without a byte-order mark (Windows' "Unicode" without BOM, some exports), when
    it can be told: the bytes hold NULs (UTF-8 and the legacy encodings never do, UTF-16 line
    ends and ASCII do), their side gives the byte order, and the text reads as mostly ASCII or
    as Japanese. Chinese or Korean without a mark and without ASCII stays unrecognised."""
    if len(data) % 2:
        return None
    head = data[:SAMPLE_CHARS]
    # ASCII in UTF-16 puts its NUL in the high byte: second in little-endian, first in big-endian.
    encoding = "utf_16_le" if head[1::2].count(0) >= head[0::2].count(0) else "utf_16_be"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    sample = text[:SAMPLE_CHARS]
    if not sample.strip() or "\x00" in sample:
        return None
    if len(TEXT_CHARS.findall(sample)) < MIN_TEXT_SHARE * len(sample):
        return None
    # Mostly ASCII (English, European languages) or Japanese with its kana: bytes that merely
    # decode to letters come out as a jumble of ideographs and Latin letters, neither of these.
    ascii_share = 1 - _non_ascii_count(sample) / len(sample)
    if ascii_share < 0.5 and kana_share(sample) < MIN_KANA_SHARE:
        return None
    return text, encoding


def _non_ascii_count(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))  # counted in C: texts run to megabytes


def kana_share(text: str) -> float:
    """Kana among the non-ASCII characters of the text's beginning (enough to judge by)."""
    sample = text[:SAMPLE_CHARS]
    non_ascii = _non_ascii_count(sample)
    return len(KANA.findall(sample)) / non_ascii if non_ascii else 0.0


def japanese_reading(data: bytes) -> tuple[str, str] | None:
    """The Japanese legacy encoding whose strict decoding reads most like Japanese, if any
    does: EUC-JP bytes read as CP932 come out as half-width katakana, which does not count.
    A short text without kana (東京) is taken as Japanese when it decodes to full-width
    characters only: too short for statistics, and on this site more likely Japanese than
    Chinese; a long one without kana is not Japanese prose, so it is left to the detector."""
    best = short = None
    for encoding in JAPANESE_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        share = kana_share(text)
        if share >= MIN_KANA_SHARE and (best is None or share > best[0]):
            best = (share, text, encoding)
        if short is None and 0 < _non_ascii_count(text) <= SHORT_TEXT_CHARS and all(
                FULL_WIDTH.match(ch) for ch in text if ord(ch) > 127):
            short = (text, encoding)
    if best:
        return best[1], best[2]
    return short


def _charset_normalizer_reading(data: bytes) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is None or match.chaos > MAX_CHAOS:
        return None
    encoding = JAPANESE_ALIASES.get(match.encoding, match.encoding)
    if encoding.startswith(SINGLE_BYTE_LATIN) and encoding != "cp1252" and _decodes(data, "cp1252"):
        # Short Western texts are told apart from Central European ones by a letter or two
        # (crème read as crčme); Windows-1252 is by far the most common of them.
        encoding = "cp1252"
    if encoding not in DETECTED_ACCEPTED:
        return None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    if looks_binary_text(text):
        return None
    return text, encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if (b < 32 and b not in b"\t\n\r\f\v\x1b") or b == 127)
    return controls > 0.1 * len(head)


def looks_binary_text(text: str) -> bool:
    head = text[:8192]
    controls = sum(1 for ch in head if (ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b") or ord(ch) == 127)
    return "\x00" in head or controls > 0.1 * len(head)


def normalize_newlines(text: str) -> tuple[str, int]:
    """CRLF and lone CR become LF; returns the text and how many line ends were changed."""
    changed = text.count("\r")
    if not changed:
        return text, 0
    return text.replace("\r\n", "\n").replace("\r", "\n"), changed
