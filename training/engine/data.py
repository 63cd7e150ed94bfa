"""Text to training blocks with `datasets`: tokenize, join, cut into blocks of block_size
tokens, split train/validation deterministically by seed."""
import math
from dataclasses import dataclass

import numpy as np

from .corpus import Corpus
from .errors import DatasetError

# The validation split must give a stable estimate: at least VAL_MIN_TOKENS (or val_fraction
# of the text, whichever is more), but never more than VAL_MAX_SHARE of the blocks, so a
# small text keeps most of itself for training. Evaluation reads at most EVAL_MAX_TOKENS of
# it: about 0.1-0.5 s for the scratch presets on a CPU.
VAL_MIN_TOKENS = 20_000
VAL_MAX_SHARE = 0.2
EVAL_MAX_TOKENS = 32_768


@dataclass
class Blocks:
    train: np.ndarray  # (n_train, block_size) int64
    val: np.ndarray  # (n_val, block_size) int64
    tokens: int
    # Instruction runs: labels of the same shape (-100 where nothing is learned), and the
    # held-out conversations behind `val` (for the before/after answers).
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    val_conversations: list | None = None
    examples: dict | None = None


def tokenize_corpus(corpus: Corpus, tokenizer):
    """A datasets.Dataset with one `input_ids` row per piece; documents end with the EOS token."""
    import datasets

    datasets.disable_progress_bars()
    eos = [tokenizer.eos_token_id] if corpus.separate_documents else []

    def encode(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [row + eos for row in ids]}

    table = datasets.Dataset.from_dict({"text": corpus.pieces})
    # An explicit fingerprint: hashing the closure (and the tokenizer in it) is slow and noisy.
    return table.map(encode, batched=True, batch_size=256, remove_columns=["text"],
                     new_fingerprint=f"tokenize-{len(corpus.pieces)}-{id(tokenizer)}")


def count_tokens(tokenized) -> int:
    """Tokens in a tokenize_corpus table, summed by Arrow (iterating rows costs seconds per 100k)."""
    import pyarrow.compute as pc

    return int(pc.sum(pc.list_value_length(tokenized.data.column("input_ids"))).as_py() or 0)


def count_corpus_tokens(corpus: Corpus, tokenizer, batch_size: int = 1024) -> int:
    """What count_tokens(tokenize_corpus(corpus, tokenizer)) gives, without building the table:
    the dataset check only needs the number."""
    eos = 1 if corpus.separate_documents else 0
    total = 0
    for start in range(0, len(corpus.pieces), batch_size):
        rows = tokenizer(corpus.pieces[start:start + batch_size], add_special_tokens=False, verbose=False,
                         return_attention_mask=False)["input_ids"]
        total += sum(map(len, rows)) + eos * len(rows)
    return total


def group_into_blocks(tokenized, block_size: int):
    def group(batch):
        joined = [token for row in batch["input_ids"] for token in row]
        usable = len(joined) // block_size * block_size
        return {"input_ids": [joined[i:i + block_size] for i in range(0, usable, block_size)]}

    # batch_size=None: the whole corpus is one batch, so no tail is lost between batches.
    return tokenized.map(group, batched=True, batch_size=None,
                         new_fingerprint=f"group-{block_size}-{tokenized._fingerprint}")


def make_blocks(corpus: Corpus, tokenizer, *, block_size: int, val_fraction: float, seed: int) -> Blocks:
    tokenized = tokenize_corpus(corpus, tokenizer)
    tokens = count_tokens(tokenized)
    grouped = group_into_blocks(tokenized, block_size)
    count = len(grouped)
    if count == 0:
        raise too_small(tokens, block_size)
    if count == 1:  # one block: train on it and report its loss as validation
        block = grouped.with_format("numpy")["input_ids"][:].astype(np.int64)
        return Blocks(train=block, val=block.copy(), tokens=tokens)
    val_count = validation_blocks(count, block_size=block_size, val_fraction=val_fraction)
    split = grouped.train_test_split(test_size=val_count, seed=seed, shuffle=True)
    as_array = lambda part: np.asarray(part.with_format("numpy")["input_ids"][:], dtype=np.int64)  # noqa: E731
    return Blocks(train=as_array(split["train"]), val=as_array(split["test"]), tokens=tokens)


def validation_blocks(count: int, *, block_size: int, val_fraction: float) -> int:
    """How many of `count` blocks are held out (see VAL_MIN_TOKENS)."""
    by_fraction = round(count * val_fraction)
    wanted = max(by_fraction, math.ceil(VAL_MIN_TOKENS / block_size))
    ceiling = max(by_fraction, int(count * VAL_MAX_SHARE))
    return max(1, min(wanted, ceiling, count - 1))


def eval_block_count(block_size: int, configured: int | None = None) -> int:
    return int(configured) if configured else max(1, EVAL_MAX_TOKENS // block_size)


def too_small(tokens: int, block_size: int) -> DatasetError:
    return DatasetError(
        f"The text is too short: {tokens} tokens, one training block needs {block_size}.",
        code="too_small", params={"tokens": tokens, "block_size": block_size},
    )


def make_instruction_blocks(conversations: list, tokenizer, *, block_size: int, val_fraction: float,
                            seed: int) -> Blocks:
    """Conversations (already checked) to packed rows with labels; the held-out conversations
    are chosen by seed before packing, so no conversation is in both parts."""
    from .chat import encode_conversation, pack, split_conversations

    train, held = split_conversations(conversations, val_fraction=val_fraction, seed=seed)
    encoded_train = [encode_conversation(tokenizer, m) for m in train]
    shared = len(conversations) < 2  # one conversation: trained on and evaluated, as one block of text is
    encoded_val = encoded_train if shared else [encode_conversation(tokenizer, m) for m in held]
    train_ids, train_labels, cut_train = pack(encoded_train, block_size=block_size, pad_id=tokenizer.eos_token_id)
    val_ids, val_labels, cut_val = pack(encoded_val, block_size=block_size, pad_id=tokenizer.eos_token_id)
    if len(train_ids) == 0 or len(val_ids) == 0:
        raise DatasetError(f"No conversation keeps any of its answer within a block of {block_size} tokens.",
                           code="instr_no_answer_fits", params={"block_size": block_size})
    tokens = sum(len(ids) for ids, _ in encoded_train) + (0 if shared else sum(len(ids) for ids, _ in encoded_val))
    examples = {"examples": len(conversations), "train_examples": len(train), "val_examples": len(held),
                "cut_examples": cut_train + (0 if shared else cut_val),
                "answer_tokens": int(sum(sum(1 for label in labels if label != -100) for _, labels in encoded_train))}
    return Blocks(train=train_ids, val=val_ids, tokens=tokens, train_labels=train_labels, val_labels=val_labels,
                  val_conversations=held, examples=examples)
