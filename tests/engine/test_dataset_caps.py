"""The caps that keep one file's check within seconds (issue #14): rows, line length, JSON
nesting; and UTF-16 without a byte-order mark read as text, not refused as binary."""
import json

import pytest

from tests.engine.test_dataset_check import refusal, write
from tests.factories import make_text
from training.engine import DatasetError, check_dataset, prepare_text
from training.engine.config import CorpusLimits
from training.engine.corpus import json_depth


def test_a_csv_of_millions_of_tiny_rows_is_refused_before_any_tokenizing(tmp_path):
    """The finding: a 10 MB CSV of 3.5 M rows took 48 s of CPU in the upload request."""
    rows = "text\n" + "a\n" * 3_500_000
    error = refusal(write(tmp_path, "rows.csv", rows))
    assert error.code == "too_many_lines"
    assert error.params == {"lines": 3_500_001, "max_lines": CorpusLimits().max_lines}


def test_the_row_cap_counts_jsonl_lines_and_txt_lines_too(tmp_path):
    limits = CorpusLimits(max_lines=50)
    jsonl = "\n".join(json.dumps({"text": f"line {n} of many"}) for n in range(51))
    assert refusal(write(tmp_path, "a.jsonl", jsonl), limits=limits, block_size=8).code == "too_many_lines"
    assert refusal(write(tmp_path, "a.txt", "word\n" * 51), limits=limits, block_size=8).code == "too_many_lines"
    assert check_dataset(write(tmp_path, "b.txt", "word and more words\n" * 50), limits=limits, block_size=8).lines == 50


def test_a_single_huge_jsonl_line_is_refused_with_its_line_number(tmp_path):
    """The finding: one 10 MB line took 9 s and 1.8 GB in the tokenizer."""
    content = json.dumps({"text": "short"}) + "\n" + json.dumps({"text": "a" * 9_000_000}) + "\n"
    error = refusal(write(tmp_path, "one.jsonl", content))
    assert error.code == "line_too_long"
    assert error.params["line"] == 2 and error.params["max_chars"] == CorpusLimits().max_line_chars
    assert error.params["chars"] > 9_000_000


def test_the_line_cap_applies_to_plain_text(tmp_path):
    limits = CorpusLimits(max_line_chars=1000)
    text = make_text(20) + "x" * 1001 + "\n"
    error = refusal(write(tmp_path, "a.txt", text), limits=limits, block_size=8)
    assert error.code == "line_too_long" and error.params["line"] == text.count("\n")


@pytest.mark.parametrize("depth", [21, 5000, 100_000])
def test_deeply_nested_json_is_refused_not_crashed(tmp_path, depth):
    """The finding: a JSONL nested 5,000 levels answered 500 (RecursionError in the parser)."""
    deep = '{"text": "ok", "x": ' + "[" * depth + "]" * depth + "}"
    content = json.dumps({"text": "a first good line"}) + "\n" + deep + "\n"
    error = refusal(write(tmp_path, "deep.jsonl", content), limits=CorpusLimits(max_json_depth=20,
                                                                                  max_line_chars=300_000))
    assert error.code == "json_too_deep"
    assert error.params == {"line": 2, "max_depth": 20}


def test_nesting_within_the_limit_is_read():
    assert json_depth({"text": "a", "meta": {"tags": ["x"]}}) == 3
    assert json_depth("plain") == 0


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", ["吾輩は猫である。名前はまだ無い。\nどこで生れたかとんと見当がつかぬ。\n" * 30,
                                  "The cat sat on the warm mat.\nIt purred.\n" * 30])
def test_utf16_without_a_byte_order_mark_is_decoded(text, encoding):
    prepared, report = prepare_text(text.encode(encoding), "novel.txt")
    assert prepared == text
    assert report.encoding == encoding.replace("-", "_")
    assert "UTF-16" in report.encoding_name


def test_utf16_with_a_byte_order_mark_is_decoded(tmp_path):
    text = "こんにちは、世界。\n" * 40
    prepared, report = prepare_text(text.encode("utf-16"), "a.txt")
    assert prepared == text and report.encoding == "utf_16"
    assert check_dataset(write(tmp_path, "a.txt", text.encode("utf-16")), block_size=8).chars == len(text)


def test_random_bytes_are_still_binary():
    import random

    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(4000))
    with pytest.raises(DatasetError) as caught:
        prepare_text(data, "a.txt")
    assert caught.value.code == "binary"


def test_conversation_files_meet_the_same_caps(tmp_path):
    """An instruction dataset (JSONL conversations) is capped like any upload: a line nested
    5,000 deep or too many lines is refused with its code, not parsed (or crashed on)."""
    from training.engine import check_instruction_dataset

    good = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(DatasetError) as caught:
        check_instruction_dataset(write(tmp_path, "deep.jsonl", good + "\n" + deep + "\n"))
    assert caught.value.code == "json_too_deep" and caught.value.params["line"] == 2
    with pytest.raises(DatasetError) as caught:
        check_instruction_dataset(write(tmp_path, "many.jsonl", "\n".join([good] * 51)), limits=CorpusLimits(max_lines=50))
    assert caught.value.code == "too_many_lines"
