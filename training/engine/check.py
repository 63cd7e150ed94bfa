"""The dataset check run before any training: figures a student can read, or a refusal."""
from .config import DEFAULT_MAX_BYTES, DatasetReport
from .corpus import read_corpus, text_figures
from .data import count_tokens, tokenize_corpus, too_small
from .estimate import estimate_seconds
from .tokenization import gpt2_tokenizer_dir, is_gpt2_vocabulary, load_tokenizer

DEFAULT_BASE_KINDS = ("scratch:tiny", "scratch:small", "gpt2")


def check_dataset(path: str, *, tokenizer_dir: str | None = None, block_size: int = 128,
                  max_bytes: int = DEFAULT_MAX_BYTES, base_kinds=DEFAULT_BASE_KINDS) -> DatasetReport:
    """Figures for a text file; raises DatasetError (empty, unknown_encoding, binary, too_large,
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
    estimates = {base: estimate_seconds(tokens, base=base, block_size=block_size) for base in base_kinds}
    return DatasetReport(
        chars=figures["chars"], lines=figures["lines"], duplicate_lines=figures["duplicate_lines"],
        bytes=corpus.bytes, tokens=tokens, tokens_per_char=round(tokens / max(1, figures["chars"]), 4),
        blocks=blocks, tokenizer="gpt2" if is_gpt2_vocabulary(tokenizer) else "trained",
        japanese_share=figures["japanese_share"], estimated_seconds=estimates,
        repeated_lines=figures["repeated_lines"],
    )
