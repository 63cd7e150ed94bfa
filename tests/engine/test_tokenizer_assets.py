import hashlib
from pathlib import Path

from training.engine import gpt2_tokenizer_dir

# The official GPT-2 files (encoder.json and vocab.bpe from OpenAI's release).
VOCAB_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
MERGES_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_it_ships_the_genuine_gpt2_files():
    directory = Path(gpt2_tokenizer_dir())
    assert sha256(directory / "vocab.json") == VOCAB_SHA256
    assert sha256(directory / "merges.txt") == MERGES_SHA256


def test_it_encodes_like_gpt2():
    from transformers import GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(gpt2_tokenizer_dir())
    assert len(tokenizer) == 50257
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer.eos_token_id == 50256
    japanese = "こんにちは世界"
    assert tokenizer.decode(tokenizer(japanese)["input_ids"]) == japanese
