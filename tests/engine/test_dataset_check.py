import json

import pytest

from tests.factories import make_text
from training.engine import DatasetError, check_dataset
from training.engine.tokenization import train_bpe_tokenizer


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def refusal(path, **kwargs) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        check_dataset(path, **kwargs)
    return caught.value


def test_it_reports_figures_for_a_text_file(tmp_path):
    text = "one line of text here\n" * 3 + "another line\n" + make_text(40)
    report = check_dataset(write(tmp_path, "a.txt", text), block_size=32)
    assert report.chars == len(text)
    assert report.bytes == len(text.encode("utf-8"))
    assert report.lines == text.count("\n")
    assert report.duplicate_lines >= 2
    assert report.tokenizer == "gpt2"
    assert report.blocks == report.tokens // 32 > 0
    assert report.tokens_per_char == pytest.approx(report.tokens / report.chars, abs=1e-3)
    assert 0 < report.japanese_share < 1
    assert set(report.estimated_seconds) == {"scratch:tiny", "scratch:small", "gpt2"}
    assert report.estimated_seconds["gpt2"] > report.estimated_seconds["scratch:tiny"] > 0
    assert json.dumps(report.to_dict())


def test_tokens_are_counted_with_each_bases_own_tokenizer(tmp_path, tiny_base_dir):
    """GPT-2's count for gpt2; for a from-scratch base the count of a tokenizer trained on this
    text (as the run trains one); for a model directory, that model's own tokenizer."""
    from training.engine.tokenization import load_tokenizer

    text = make_text(200)
    path = write(tmp_path, "a.txt", text)
    report = check_dataset(path, block_size=32, base_kinds=("scratch:tiny", "gpt2", tiny_base_dir))
    assert report.tokens_by_base["gpt2"] == report.tokens
    assert 0 < report.scratch_tokens_per_char < report.tokens_per_char  # trained on this text: fewer tokens
    assert report.tokens_by_base["scratch:tiny"] == round(report.chars * report.scratch_tokens_per_char)
    own = load_tokenizer(tiny_base_dir)
    lines = [line + "\n" for line in text.splitlines()]
    assert report.tokens_by_base[tiny_base_dir] == pytest.approx(
        sum(len(own(line, add_special_tokens=False)["input_ids"]) for line in lines), rel=0.05)


def test_japanese_costs_more_tokens_per_character(tmp_path):
    english = check_dataset(write(tmp_path, "en.txt", "The cat sat on the warm mat by the door. " * 40), block_size=16)
    japanese = check_dataset(write(tmp_path, "ja.txt", "猫が戸口のそばの暖かいマットに座った。" * 40), block_size=16)
    assert japanese.japanese_share > 0.9 and english.japanese_share == 0
    assert japanese.tokens_per_char > 3 * english.tokens_per_char


def test_it_reads_jsonl_and_csv_text_fields(tmp_path):
    records = [{"text": f"record {i} " + "words " * 20, "other": i} for i in range(20)]
    jsonl = write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in records) + "\n\n")
    csv_text = "id,text\n" + "".join(f'{i},"row {i}, ' + "words " * 20 + '"\n' for i in range(20))
    csv_path = write(tmp_path, "d.csv", csv_text)
    from_jsonl, from_csv = check_dataset(jsonl, block_size=16), check_dataset(csv_path, block_size=16)
    assert from_jsonl.chars == sum(len(r["text"]) for r in records)
    assert from_csv.lines == 20
    assert "id" not in str(from_csv) and from_csv.tokens > 20 * 20


def test_it_counts_with_a_given_tokenizer(tmp_path):
    text = make_text(60)
    tokenizer_dir = train_bpe_tokenizer([text], str(tmp_path / "tok"), vocab_size=400)
    report = check_dataset(write(tmp_path, "a.txt", text), tokenizer_dir=tokenizer_dir, block_size=16)
    assert report.tokenizer == "trained"
    assert report.tokens != check_dataset(str(tmp_path / "a.txt"), block_size=16).tokens


@pytest.mark.parametrize("content", [b"", b"   \n\n \t"])
def test_it_refuses_an_empty_file(tmp_path, content):
    assert refusal(write(tmp_path, "e.txt", content)).code == "empty"


def test_it_refuses_jsonl_whose_texts_are_all_empty(tmp_path):
    assert refusal(write(tmp_path, "e.jsonl", '{"text": ""}\n{"text": "  "}\n')).code == "empty"


def test_it_reads_legacy_japanese_encodings_and_crlf(tmp_path):
    text = "吾輩は猫である。名前はまだ無い。①\n" * 40
    utf8 = check_dataset(write(tmp_path, "u.txt", text), block_size=16)
    for encoding in ("cp932", "euc_jis_2004", "utf-16"):
        report = check_dataset(write(tmp_path, f"{encoding}.txt", text.replace("\n", "\r\n").encode(encoding)),
                               block_size=16)
        assert (report.chars, report.tokens) == (utf8.chars, utf8.tokens), encoding


def test_it_names_the_offset_of_bytes_in_no_known_encoding(tmp_path):
    good = "これは正しいテキストです。\n".encode()
    error = refusal(write(tmp_path, "bad.txt", good + bytes([0x80, 0xFF, 0x81, 0xFE, 0x9F, 0xFD]) * 3))
    assert error.code == "unknown_encoding"
    assert error.params == {"offset": len(good), "line": 2}
    assert str(len(good)) in str(error)


def test_it_lists_the_most_repeated_lines(tmp_path):
    text = "今日の一句\n" * 7 + "Wind: westerly\n" * 3 + make_text(40)
    report = check_dataset(write(tmp_path, "a.txt", text), block_size=16)
    assert report.repeated_lines[:2] == [{"line": "今日の一句", "count": 7}, {"line": "Wind: westerly", "count": 3}]
    assert len(report.repeated_lines) <= 5 and all(item["count"] > 1 for item in report.repeated_lines)
    assert report.duplicate_lines >= 6 + 2


def test_it_refuses_binary_files(tmp_path):
    png_like = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert refusal(write(tmp_path, "image.txt", png_like)).code == "binary"


def test_it_refuses_a_file_over_the_cap(tmp_path):
    error = refusal(write(tmp_path, "big.txt", "x" * 2000), max_bytes=1000)
    assert error.code == "too_large"
    assert error.params == {"bytes": 2000, "max_bytes": 1000}


def test_it_refuses_text_too_short_for_one_block(tmp_path):
    error = refusal(write(tmp_path, "short.txt", "just a few words"), block_size=128)
    assert error.code == "too_small"
    assert error.params["block_size"] == 128 and 0 < error.params["tokens"] < 128


def test_it_names_the_jsonl_line_without_text(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "fine"}\n\n{"body": "no text field"}\n')
    error = refusal(path)
    assert (error.code, error.params) == ("jsonl_missing_text", {"line": 3})


def test_it_names_the_invalid_jsonl_line(tmp_path):
    error = refusal(write(tmp_path, "d.jsonl", '{"text": "fine"}\n{"text": oops}\n'))
    assert (error.code, error.params) == ("jsonl_invalid", {"line": 2})


def test_it_refuses_csv_without_text_column(tmp_path):
    error = refusal(write(tmp_path, "d.csv", "id,body\n1,hello\n"))
    assert error.code == "csv_missing_text"
    assert error.params == {"columns": ["id", "body"]}


def test_a_utf8_bom_is_not_counted(tmp_path):
    report = check_dataset(write(tmp_path, "bom.txt", "\ufeff" + "hello world. " * 30), block_size=8)
    assert report.chars == len("hello world. " * 30)


def test_the_japanese_share_does_not_count_ideographic_space_indents(tmp_path):
    """Aozora Bunko indents each paragraph with U+3000; the share once came out at 105 %."""
    report = check_dataset(write(tmp_path, "a.txt", "　山路を登りながら、こう考えた。\n" * 40), block_size=16)
    assert report.japanese_share == 1.0
