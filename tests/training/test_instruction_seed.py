"""The sample instruction datasets (training/seed/instructions) stay valid: see check_instructions.py."""
import importlib.util
from pathlib import Path

import pytest

CHECKER = Path(__file__).resolve().parents[2] / "training" / "seed" / "instructions" / "check_instructions.py"
spec = importlib.util.spec_from_file_location("check_instructions", CHECKER)
check_instructions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_instructions)
DATASETS = sorted(CHECKER.parent.glob("*.jsonl"))


def test_both_languages_ship_a_tutor_dataset():
    assert [path.name for path in DATASETS] == ["en-course-tutor.jsonl", "ja-course-tutor.jsonl"]


@pytest.mark.parametrize("path", DATASETS, ids=[path.name for path in DATASETS])
def test_every_pair_is_valid_and_fits_one_gpt2_block(path):
    errors, figures = check_instructions.check_file(path, check_instructions._gpt2_tokenizer())
    assert errors == []
    assert figures["pairs"] >= check_instructions.MIN_PAIRS
    assert figures["longest pair (GPT-2 tokens)"] <= check_instructions.BLOCK_TOKENS


def test_the_checker_catches_bad_lines(tmp_path):
    bad = tmp_path / "en-bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "Hi"}]}\nnot json\n'
                   '{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": " A. "}]}\n',
                   encoding="utf-8")
    errors, _ = check_instructions.check_file(bad, None)
    assert any("needs messages [user, assistant]" in e for e in errors)
    assert any("not JSON" in e for e in errors)
    assert any("untrimmed" in e for e in errors)
    assert any("needs >= 300" in e for e in errors)


@pytest.mark.parametrize("path", DATASETS, ids=[path.name for path in DATASETS])
def test_every_pair_passes_the_upload_check(path):
    """What a student gets on uploading a sample: no problem on any line (a literal chat marker
    such as the user marker inside a question would be refused as a reserved token)."""
    from training.engine.instructions import check_instructions as upload_check

    report = upload_check(path.read_text(encoding="utf-8"))
    assert report.problems == [] and report.ok
    assert report.examples == check_instructions.check_file(path, None)[1]["pairs"]
