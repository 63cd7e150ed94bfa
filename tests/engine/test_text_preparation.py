"""prepare_text: encodings, line ends, zips and Aozora Bunko notation, as students bring them."""
import codecs
import io
import zipfile

import pytest

from tests.aozora_sample import CLEAN_BODY_LINES, MARKUP, aozora_text, aozora_zip
from training.engine import DatasetError, prepare_text
from training.engine.aozora import clean, detect, gaiji_character
from training.engine.encodings import decode_text

NOVEL = "吾輩は猫である。名前はまだ無い。\nどこで生れたかとんと見当がつかぬ。\n"

# Short texts are where detectors guess wrong (EUC-JP kana bytes are valid Korean and Chinese).
SHORT_JAPANESE = ["はい", "東京", "猫です。", "吾輩は猫である。", "山路を登りながら、こう考えた。", "アイウエオ"]


def refusal(raw: bytes, filename: str = "a.txt", **kwargs) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        prepare_text(raw, filename, **kwargs)
    return caught.value


@pytest.mark.parametrize("text", SHORT_JAPANESE)
@pytest.mark.parametrize("encoding, expected", [
    ("cp932", "cp932"), ("euc_jp", "euc_jp"), ("utf-8", "utf_8"), ("utf-8-sig", "utf_8_sig"),
    ("utf-16", "utf_16"), ("utf-16-be-bom", "utf_16"), ("utf-32", "utf_32"),
])
def test_short_japanese_texts_are_read_in_their_encoding(text, encoding, expected):
    raw = codecs.BOM_UTF16_BE + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    decoded, found = decode_text(raw)
    assert (decoded, found) == (text, expected)


def test_cp932_is_preferred_to_shift_jis_for_its_extra_characters():
    text = "①番目の手紙。髙橋さんの﨑の字。～\n" * 3
    assert decode_text(text.encode("cp932")) == (text, "cp932")


def test_a_long_cp932_novel_is_not_taken_for_korean():
    text, report = prepare_text((NOVEL * 50).encode("cp932"), "neko.txt")
    assert text == NOVEL * 50 and report.encoding == "cp932" and report.encoding_name == "Shift_JIS (CP932)"


def test_a_long_chinese_text_is_left_to_the_detector():
    chinese = "我们的国家是一个伟大的国家，人民勤劳勇敢，历史悠久，文化灿烂。" * 20
    text, encoding = decode_text(chinese.encode("gb2312"))
    assert text == chinese and encoding == "gb18030"


def test_a_western_legacy_text_is_read_as_windows_1252():
    english = "Café crème, naïve façade. " * 10
    assert decode_text(english.encode("cp1252")) == (english, "cp1252")


@pytest.mark.parametrize("raw, code", [
    (b"", "empty"), (b" \n\t\r\n", "empty"), (codecs.BOM_UTF16_LE, "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary"),
    (b"\x00" * 5000, "binary"),
    (codecs.BOM_UTF16_LE + bytes(range(256)) * 8, "binary"),
])
def test_empty_and_binary_files_are_refused(raw, code):
    assert refusal(raw).code == code


def test_undecodable_bytes_are_refused_with_the_first_bad_offset():
    good = "これは正しいテキストです。\n".encode()
    error = refusal(good + bytes([0x80, 0xFF, 0x81, 0xFE, 0x9F, 0xFD]) * 3)
    assert error.code == "unknown_encoding" and error.params == {"offset": len(good), "line": 2}


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_become_lf(newline):
    text, report = prepare_text(NOVEL.replace("\n", newline).encode("cp932"), "a.txt")
    assert text == NOVEL and report.newlines_converted == NOVEL.count("\n")


def test_jsonl_and_csv_are_decoded_but_not_cleaned():
    jsonl = '{"text": "山路《やまみち》を登る"}\r\n'.encode("utf-16")
    text, report = prepare_text(jsonl, "d.jsonl")
    assert text == '{"text": "山路《やまみち》を登る"}\n' and report.kind == "jsonl" and report.notation == {}


# Aozora Bunko notation -----------------------------------------------------------------

def test_aozora_notation_is_removed_and_counted():
    text, report = clean(aozora_text())
    assert text.startswith("山の手紙\n森川花子\n")  # the title and author stay
    assert "一\n" in text and "\n".join(CLEAN_BODY_LINES) in text and text.endswith("　おわり。\n")
    for mark in MARKUP:
        assert mark not in text, mark
    assert (report.ruby, report.notes, report.gaiji, report.gaiji_dropped) == (2, 4, 2, 1)
    assert report.header and report.footer and report.detected and report.removed
    assert report.chars_after == len(text) < report.chars_before
    assert report.preview[1] == {"before": "　山路《やまみち》を登りながら、こう考えた。",
                                 "after": "　山路を登りながら、こう考えた。"}
    assert len(report.preview) == 5


@pytest.mark.parametrize("note, character", [
    ("「言＋墟のつくり」、第4水準2-88-74", "譃"), ("「てへん＋劣」、第3水準1-84-77", "挘"),
    ("「日＋向」、第3水準1-85-25", "晌"), ("二の字点、1-2-22", "〻"), ("「丸印の一」、U+2460、12-3", "①"),
    ("「土へん＋竒」、183-2", None), ("「口＋世」", None), ("「ゑ」、第3水準1-99-99", None),
])
def test_gaiji_notes_resolve_to_the_character_they_name(note, character):
    assert gaiji_character(note) == character


def test_nested_notes_and_lines_of_notes_go_entirely():
    text, report = clean("［＃ここから２字下げ］\n　本文［＃「※［＃「言＋墟のつくり」、第4水準2-88-74］」に傍点］です。\n"
                         "［＃ここで字下げ終わり］\n\n次の段落。\n")
    assert text == "　本文です。\n\n次の段落。\n"
    assert report.notes == 3 and report.gaiji == 1  # the inner note is the gaiji one


def test_ordinary_text_with_double_angle_quotes_is_not_taken_for_aozora():
    text = "《論語》を読んだ。The book 《Analects》 is old.\n"
    assert not detect(text)
    assert clean(text) == (text, clean(text)[1]) and not clean(text)[1].removed


def test_ruby_alone_is_detected():
    assert detect("彼は漢字《かんじ》を書いた。")


def test_keep_notation_keeps_it_but_still_reports_it():
    text, report = prepare_text(aozora_text().encode("utf-8"), "a.txt", keep_notation=True)
    assert text == aozora_text()
    assert report.keep_notation and report.notation["detected"] and not report.notation["removed"]


def test_a_zipped_cp932_aozora_file_with_crlf_comes_out_clean():
    raw = aozora_zip(extra={"yama/fig01.png": b"\x89PNG fake", "yama/": b""})
    text, report = prepare_text(raw, "yama_tegami.zip")
    assert report.zip_member == "yama.txt" and report.encoding == "cp932" and report.newlines_converted > 0
    assert "\r" not in text and "\n".join(CLEAN_BODY_LINES) in text
    for mark in MARKUP:
        assert mark not in text, mark
    assert report.notation["ruby"] == 2 and report.upload_bytes == len(raw)


# Zips -----------------------------------------------------------------------------------

def zip_of(entries: dict, **kwargs) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("entries, code", [
    ({"fig.png": b"png", "readme/": b""}, "zip_no_text"),
    ({"a.txt": NOVEL.encode(), "b/c.txt": NOVEL.encode()}, "zip_many_texts"),
    ({"../../etc/evil.txt": NOVEL.encode()}, "zip_unsafe"),
    ({"/abs/evil.txt": NOVEL.encode()}, "zip_unsafe"),
    ({"C:\\evil.txt": NOVEL.encode()}, "zip_unsafe"),
    ({"inner.zip": zip_of({"a.txt": NOVEL.encode()}), "a.txt": NOVEL.encode()}, "zip_nested"),
    ({f"f{i}.png": b"x" for i in range(101)}, "zip_too_many"),
])
def test_unusable_zips_are_refused(entries, code):
    error = refusal(zip_of(entries), "upload.zip")
    assert error.code == code
    if code == "zip_many_texts":
        assert error.params == {"count": 2, "names": ["a.txt", "c.txt"]}
    if code == "zip_unsafe":
        assert "/" not in error.params["name"]


def test_macos_metadata_in_a_zip_is_ignored():
    text, report = prepare_text(zip_of({"a.txt": NOVEL.encode(), "__MACOSX/._a.txt": b"\x00\x01"}), "a.zip")
    assert text == NOVEL and report.zip_member == "a.txt"


def test_a_zip_bomb_is_refused_without_unpacking_it():
    bomb = zip_of({"a.txt": b"a" * (8 * 2**20)})  # 8 MiB of one letter: about 8 KiB compressed
    assert len(bomb) < 64 * 1024
    assert refusal(bomb, "a.zip").code == "zip_bomb"


def test_a_zip_whose_text_is_over_the_cap_is_refused():
    error = refusal(zip_of({"a.txt": NOVEL.encode() * 100}), "a.zip", max_bytes=2000)
    assert error.code == "too_large" and error.params["max_bytes"] == 2000


def test_a_zip_whose_header_understates_the_size_is_read_only_up_to_the_cap():
    raw = bytearray(zip_of({"a.txt": NOVEL.encode() * 100}))
    # Rewrite the uncompressed size in the central directory to a lie of 10 bytes.
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")
    error = refusal(bytes(raw), "a.zip", max_bytes=2000)
    assert error.code in ("too_large", "zip_invalid")


def test_a_damaged_zip_is_refused():
    assert refusal(b"PK\x03\x04" + b"\x00garbage" * 20, "a.zip").code == "zip_invalid"


def test_an_encrypted_text_in_a_zip_is_refused():
    raw = bytearray(zip_of({"a.txt": NOVEL.encode()}))
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag bit in both headers
        at = raw.index(header)
        flag_at = at + (6 if header == b"PK\x03\x04" else 8)
        raw[flag_at] |= 0x1
    assert refusal(bytes(raw), "a.zip").code == "zip_encrypted"


def test_an_upload_over_the_cap_is_refused_before_reading():
    error = refusal(b"a" * 2001, "a.txt", max_bytes=2000)
    assert (error.code, error.params) == ("too_large", {"bytes": 2001, "max_bytes": 2000})


def test_a_cleaned_aozora_zip_trains_on_the_text_alone(make_config, test_preset, tmp_path):
    """What training reads is the stored UTF-8 text, unchanged: no notation reaches the
    corpus, so none reaches the tokenizer the run learns."""
    from transformers import AutoTokenizer

    from training.engine import train

    text, _report = prepare_text(aozora_zip(aozora_text(repeats=40)), "yama.zip")
    path = tmp_path / "stored.txt"
    path.write_bytes(text.encode("utf-8"))
    result = train(make_config(data_path=str(path), max_steps=4, eval_every_steps=4), lambda event: None)
    assert result.data["chars"] == len(text)
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    learned = [tokenizer.convert_tokens_to_string([token]) for token in tokenizer.get_vocab()]
    for mark in ("《", "》", "｜", "［＃", "※", "底本"):
        assert not any(mark in token for token in learned), mark
    assert any("山路" in token or "小川" in token for token in learned)  # it did learn the text's words
