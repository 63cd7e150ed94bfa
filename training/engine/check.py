"""The dataset check run before any training: figures a student can read, or a refusal."""
import hashlib
import os
import tempfile

from .bases import local_model_dir
from .config import DEFAULT_MAX_BYTES, CorpusLimits, DatasetReport, TrainConfig
from .corpus import read_corpus, text_figures
from .data import count_corpus_tokens, too_small
from .estimate import estimate_seconds
from .tokenization import gpt2_tokenizer_dir, is_gpt2_vocabulary, load_tokenizer, train_bpe_tokenizer

DEFAULT_BASE_KINDS = ("scratch:tiny", "scratch:small", "gpt2")
SCRATCH_SAMPLE_CHARS = 1_000_000  # the from-scratch tokenizer is trained on at most this much to measure it


def check_dataset(path: str, *, tokenizer_dir: str | None = None, block_size: int = 128,
                  max_bytes: int = DEFAULT_MAX_BYTES, base_kinds=DEFAULT_BASE_KINDS,
                  cache_dir: str | None = None, limits: CorpusLimits | None = None,
                  on_phase=None) -> DatasetReport:
    """Figures for a text file; raises DatasetError (empty, unknown_encoding, binary, too_large,
    too_small, too_many_lines, line_too_long, json_too_deep, jsonl_missing_text, jsonl_invalid,
    csv_missing_text) when it cannot be used. `on_phase(name)` is told what it does next
    ("reading", "counting", "scratch_tokenizer"), for a progress line.

    Tokens are counted with the tokenizer in `tokenizer_dir`, or with GPT-2's when None: with
    GPT-2's vocabulary a Japanese character costs about one token or more, an English word about one.
    Pretrained bases in `base_kinds` that are on this machine (hub ids cached in `cache_dir`)
    and bring their own vocabulary, such as rinna's SentencePiece, are counted again with it:
    their estimates use those counts, kept in `tokens_by_base`. A from-scratch base is counted
    as the run will count: with a tokenizer trained on this text.
    """
    phase = on_phase or (lambda name: None)
    phase("reading")
    corpus = read_corpus(path, max_bytes=max_bytes, limits=limits)
    phase("counting")
    return _corpus_report(corpus, tokenizer_dir=tokenizer_dir, block_size=block_size, base_kinds=base_kinds,
                          cache_dir=cache_dir, phase=phase)


def check_instruction_dataset(path: str, *, block_size: int = 128, max_bytes: int = DEFAULT_MAX_BYTES,
                              base_kinds=DEFAULT_BASE_KINDS, cache_dir: str | None = None,
                              limits: CorpusLimits | None = None, on_phase=None) -> DatasetReport:
    """The check of an instruction dataset (JSONL conversations): `check_instructions` on its
    text, refused as DatasetError "instructions_invalid" (params: the problems, each with its
    line and code, and their count) when any line has a problem; otherwise the figures of a
    text check on the conversations as the template writes them, with the instruction report
    (conversations, answers' tokens, how many a block of `block_size` tokens would cut) in
    `instructions`."""
    from .chat import chat_tokenizer, render
    from .corpus import Corpus, _decode
    from .errors import DatasetError
    from .instructions import check_instructions, parse_instructions

    size = os.path.getsize(path)
    if size > max_bytes:
        raise DatasetError(f"The file is too large: {size} bytes, the limit is {max_bytes} bytes.",
                           code="too_large", params={"bytes": size, "max_bytes": max_bytes})
    phase = on_phase or (lambda name: None)
    phase("reading")
    with open(path, "rb") as f:
        text = _decode(f.read())
    _check_instruction_caps(text, limits or CorpusLimits())
    phase("counting")
    tokenizer = chat_tokenizer(load_tokenizer(gpt2_tokenizer_dir()))
    report = check_instructions(text, tokenizer=tokenizer, block_size=block_size)
    if not report.ok:
        first = report.problems[0] if report.problems else {"message": "The file holds no conversation."}
        raise DatasetError(f"The instruction dataset has {max(1, report.problem_count)} problem(s); "
                           f"the first: {first['message']}", code="instructions_invalid",
                           params={"problems": report.problems, "count": max(1, report.problem_count)})
    conversations, _ = parse_instructions(text)
    documents = [render(messages) for messages in conversations]
    corpus = Corpus(documents=documents, pieces=documents, separate_documents=True, bytes=size)
    result = _corpus_report(corpus, tokenizer_dir=None, block_size=block_size, base_kinds=base_kinds,
                            cache_dir=cache_dir, allow_short=True, phase=phase)
    # The figures above count the conversations as the template writes them, a line a message:
    # the file's own lines (a conversation each) are what a student can look up.
    result.lines = report.lines
    result.instructions = report.to_dict()
    return result


def _check_instruction_caps(text: str, limits: CorpusLimits) -> None:
    """The caps every upload meets (lines, line length, JSON depth) before the conversations
    are parsed; a line that is not JSON is left to `check_instructions`, which names them all."""
    from .corpus import check_lines, json_line
    from .errors import DatasetError

    check_lines(text, limits)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                json_line(line, number, limits)
            except DatasetError as error:
                if error.code != "jsonl_invalid":
                    raise


def _corpus_report(corpus, *, tokenizer_dir, block_size, base_kinds, cache_dir,
                   allow_short: bool = False, phase=lambda name: None) -> DatasetReport:
    # Conversations are counted as rendered, each chat token as the few pieces of its text: a
    # slight overcount, on the safe side for estimates.
    tokenizer = load_tokenizer(tokenizer_dir or gpt2_tokenizer_dir())
    tokens = count_corpus_tokens(corpus, tokenizer)
    blocks = tokens // block_size
    if blocks == 0 and not allow_short:  # conversations are padded to a block: any one is enough
        raise too_small(tokens, block_size)
    figures = text_figures(corpus.documents)
    phase("scratch_tokenizer")
    scratch_ratio = scratch_tokens_per_char(corpus.documents)
    tokens_by_base = own_token_counts(corpus, base_kinds, cache_dir=cache_dir, skip=tokenizer)
    for base in base_kinds:
        if base.startswith("scratch:"):
            tokens_by_base[base] = max(1, round(figures["chars"] * scratch_ratio))
        else:
            tokens_by_base.setdefault(base, tokens)
    estimates = {base: estimate_seconds(tokens_by_base[base], base=base, block_size=block_size)
                 for base in base_kinds}
    return DatasetReport(
        chars=figures["chars"], lines=figures["lines"], duplicate_lines=figures["duplicate_lines"],
        bytes=corpus.bytes, tokens=tokens, tokens_per_char=round(tokens / max(1, figures["chars"]), 4),
        blocks=blocks, tokenizer="gpt2" if is_gpt2_vocabulary(tokenizer) else "trained",
        japanese_share=figures["japanese_share"], estimated_seconds=estimates, tokens_by_base=tokens_by_base,
        repeated_lines=figures["repeated_lines"], scratch_tokens_per_char=round(scratch_ratio, 4),
    )


def own_token_counts(corpus, base_kinds, *, cache_dir: str | None, skip) -> dict:
    """Token counts of the corpus under each present pretrained base's own tokenizer, for the
    bases whose vocabulary differs from `skip` (the one already counted)."""
    skip_gpt2 = is_gpt2_vocabulary(skip)
    skip_key = None if skip_gpt2 else _vocabulary_key(skip)
    counts, by_vocabulary = {}, {}
    for base in base_kinds:
        if base.startswith("scratch:"):
            continue
        directory = local_model_dir(base, cache_dir=cache_dir)
        if directory is None:
            continue
        tokenizer = load_tokenizer(directory)
        if skip_gpt2 and is_gpt2_vocabulary(tokenizer):
            continue
        key = _vocabulary_key(tokenizer)  # rinna's xsmall, small and medium share one: count it once
        if key == skip_key:
            continue
        if key not in by_vocabulary:
            by_vocabulary[key] = count_corpus_tokens(corpus, tokenizer)
        counts[base] = by_vocabulary[key]
    return counts


def _vocabulary_key(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return hashlib.sha256(backend.to_str().encode()).hexdigest() if backend is not None else str(id(tokenizer))


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
