"""The chat template of instruction runs, its special tokens, and conversations as training rows.

A conversation is written as

    <|system|>You are ...<|end|>\\n<|user|>Question<|end|>\\n<|assistant|>Answer<|end|>\\n

with `<|system|>`, `<|user|>`, `<|assistant|>` and `<|end|>` added to the tokenizer as special
tokens (one id each, never split). The same text comes from the Jinja template saved with the
exported tokenizer, so after a download `tokenizer.apply_chat_template(messages, tokenize=False,
add_generation_prompt=True)` writes exactly what the model was trained on, ending in
`<|assistant|>`. Training learns only the assistant's tokens: its content and the `<|end|>`
that closes it (the model learns to stop); every other label is -100.
"""
import copy
import random

import numpy as np

IGNORE = -100
END = "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
CHAT_TOKENS = [*ROLE_TOKENS.values(), END]
ROLES_ORDER = tuple(ROLE_TOKENS)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Roles are system, user and assistant.') }}{% endif %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
VAL_MAX_SHARE = 0.2  # at most this share of the conversations is held out


def render(messages: list[dict], *, add_generation_prompt: bool = False) -> str:
    """The template's text in Python (tests check both agree)."""
    text = "".join(f"{ROLE_TOKENS[m['role']]}{m['content']}{END}\n" for m in messages)
    return text + (ROLE_TOKENS["assistant"] if add_generation_prompt else "")


def has_chat_tokens(tokenizer) -> bool:
    vocab = tokenizer.get_vocab()
    return all(token in vocab for token in CHAT_TOKENS)


def chat_tokenizer(tokenizer):
    """A copy of `tokenizer` with the chat tokens (special, never split) and the template.
    New tokens get the next ids: a pretrained model must be resized (`resize_for_chat`)."""
    tokenizer = copy.deepcopy(tokenizer)
    missing = [token for token in CHAT_TOKENS if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def chat_token_ids(tokenizer) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in CHAT_TOKENS]


def end_token_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(END)


def resize_for_chat(model, tokenizer) -> int:
    """Give the model an embedding row for every token of the tokenizer (new rows start at the
    mean of the old ones, transformers' default). Returns how many rows were added."""
    old = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old:
        model.resize_token_embeddings(len(tokenizer))
    return max(0, len(tokenizer) - old)


def encode_conversation(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """(input ids, labels) of the rendered conversation: labels equal the ids on the assistant's
    content and its closing <|end|>, -100 elsewhere. The ids are exactly the tokenization of
    `render(messages)` (characters are mapped to tokens by offsets, never re-tokenized in pieces)."""
    text, spans, position = "", [], 0
    for message in messages:
        head = ROLE_TOKENS[message["role"]]
        start = position + len(head)
        piece = f"{head}{message['content']}{END}\n"
        if message["role"] == "assistant":
            spans.append((start, start + len(message["content"]) + len(END)))
        text += piece
        position += len(piece)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids = list(encoded["input_ids"])
    labels = [IGNORE] * len(ids)
    for index, (begin, _end) in enumerate(encoded["offset_mapping"]):
        if any(low <= begin < high for low, high in spans):
            labels[index] = ids[index]
    return ids, labels


def split_conversations(conversations: list, *, val_fraction: float, seed: int) -> tuple[list, list]:
    """(training, held-out): a seeded shuffle, then `val_fraction` of the conversations held out
    (at least one, at most VAL_MAX_SHARE, never all). One conversation is used for both."""
    if len(conversations) < 2:
        return list(conversations), list(conversations)
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    count = max(1, min(round(len(order) * val_fraction), int(len(order) * VAL_MAX_SHARE) or 1, len(order) - 1))
    held = sorted(order[:count])
    kept = sorted(order[count:])
    return [conversations[i] for i in kept], [conversations[i] for i in held]


def pack(encoded: list[tuple[list[int], list[int]]], *, block_size: int, pad_id: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows of `block_size` tokens holding whole conversations, one after another, padded at
    the end with `pad_id` (label -100). A conversation longer than a block keeps its last
    `block_size` tokens: its final answer is learned, its beginning (the oldest context) is
    cut; it is dropped if no answer token is left. Returns (ids, labels, cut)."""
    rows_ids, rows_labels = [], []
    current_ids, current_labels = [], []
    cut = 0

    def close():
        if current_ids:
            pad = block_size - len(current_ids)
            rows_ids.append(current_ids + [pad_id] * pad)
            rows_labels.append(current_labels + [IGNORE] * pad)

    for ids, labels in encoded:
        if len(ids) > block_size:
            cut += 1
            ids, labels = ids[-block_size:], labels[-block_size:]
        if all(label == IGNORE for label in labels[1:]):
            continue
        if len(current_ids) + len(ids) > block_size:
            close()
            current_ids, current_labels = [], []
        current_ids = current_ids + ids
        current_labels = current_labels + labels
    close()
    as_array = lambda rows: np.asarray(rows, dtype=np.int64).reshape(-1, block_size)  # noqa: E731
    return as_array(rows_ids), as_array(rows_labels), cut


def prompt_messages(messages: list[dict]) -> tuple[list[dict], str]:
    """A held-out conversation as a question: the messages before its last answer, and that answer."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last], messages[last]["content"]
