"""The dataset check run before any training: figures a student can read, or a refusal."""
import os
import tempfile

from .config import DEFAULT_MAX_BYTES, DatasetReport, TrainConfig
from .corpus import read_corpus, text_figures
from .data import count_tokens, tokenize_corpus, too_small
from .estimate import estimate_seconds
from .tokenization import (
    gpt2_tokenizer_dir,
    is_gpt2_vocabulary,
    load_tokenizer,
    train_bpe_tokenizer,
)

DEFAULT_BASE_KINDS = ("scratch:tiny", "scratch:small", "gpt2")
SCRATCH_SAMPLE_CHARS = 1_000_000  # the from-scratch tokenizer is trained on at most this much to measure it


def check_dataset(path: str, *, tokenizer_dir: str | None = None, block_size: int = 128,
                  max_bytes: int = DEFAULT_MAX_BYTES, base_kinds=DEFAULT_BASE_KINDS) -> DatasetReport:
    """Figures for a text file; raises DatasetError (empty, not_utf8, binary, too_large,
    too_small, jsonl_missing_text, jsonl_invalid, csv_missing_text) when it cannot be used.

    Tokens are counted with the tokenizer in `tokenizer_dir`, or with GPT-2's when None: with
    GPT-2's vocabulary a Japanese character costs about one token or more, an English word about one.
    """
    corpus = read_corpus(path, max_bytes=max_bytes)
    tokenizer = load_tokenizer(tokenizer_dir or gpt2_tokenizer_dir())
    tokens = count_tokens(tokenize_corpus(corpus, tokenizer))
    blocks = tokens // block_size
    if blocks == 0:
        raise too_small(tokens, block_size)
    figures = text_figures(corpus.documents)
    scratch_ratio = scratch_tokens_per_char(corpus.documents)
    tokens_by_base = {}
    for base in base_kinds:
        if base.startswith("scratch:"):
            tokens_by_base[base] = max(1, round(figures["chars"] * scratch_ratio))
        elif os.path.isfile(os.path.join(base, "tokenizer_config.json")) and not _same_dir(base, tokenizer_dir):
            tokens_by_base[base] = count_tokens(tokenize_corpus(corpus, load_tokenizer(base)))
        else:
            tokens_by_base[base] = tokens
    estimates = {base: estimate_seconds(tokens_by_base[base], base=base, block_size=block_size)
                 for base in base_kinds}
    return DatasetReport(
        chars=figures["chars"], lines=figures["lines"], duplicate_lines=figures["duplicate_lines"],
        bytes=corpus.bytes, tokens=tokens, tokens_per_char=round(tokens / max(1, figures["chars"]), 4),
        blocks=blocks, tokenizer="gpt2" if is_gpt2_vocabulary(tokenizer) else "trained",
        japanese_share=figures["japanese_share"], estimated_seconds=estimates,
        tokens_by_base=tokens_by_base, scratch_tokens_per_char=round(scratch_ratio, 4),
    )


def scratch_tokens_per_char(documents: list[str]) -> float:
    """Tokens per character of the tokenizer a from-scratch run would train on this text
    (trained here on up to SCRATCH_SAMPLE_CHARS of it, in a throwaway directory)."""
    sample, size = [], 0
    for document in documents:
        sample.append(document[: SCRATCH_SAMPLE_CHARS - size])
        size += len(sample[-1])
        if size >= SCRATCH_SAMPLE_CHARS:
            break
    if not size:
        return 1.0
    with tempfile.TemporaryDirectory(prefix="llmschool-scratch-tokenizer-") as directory:
        tokenizer = load_tokenizer(train_bpe_tokenizer(sample, os.path.join(directory, "tokenizer"),
                                                       vocab_size=TrainConfig.vocab_size))
        tokens = sum(len(ids) for ids in tokenizer(sample, add_special_tokens=False, verbose=False)["input_ids"])
    return tokens / size


def _same_dir(a: str, b: str | None) -> bool:
    return b is not None and os.path.realpath(a) == os.path.realpath(b)
