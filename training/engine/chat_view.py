"""A conversation as the model sees it in training, token by token, for the lab's chat-template
widget: each token of `chat.render(messages)` with whether its loss counts (label != -100).

It uses the Rust `tokenizers` library directly, never transformers (which imports torch): a
web process can answer it without loading a model or a deep learning framework. The tokenizer
is the one the engine trains with, rebuilt the same way: GPT-2's byte-level BPE from
assets/gpt2 (as GPT2TokenizerFast builds it) or a model directory's tokenizer.json, plus the
chat tokens of `chat.chat_tokenizer` (special, never split). Labels follow
`chat.encode_conversation` exactly (tests/engine/test_chat_view.py compares the two).
"""
import os

from training.engine.chat import CHAT_TOKENS, END, IGNORE, ROLE_TOKENS, render
from training.engine.errors import EngineError
from training.engine.tokenization import BYTE_TOKEN, EOS_TOKEN, DirectoryCache, _bytes_to_unicode

_backends = DirectoryCache(4)
_BYTE_OF_CHAR = {char: byte for byte, char in _bytes_to_unicode().items()}


def _build(directory: str):
    """(tokenizer, whether the chat tokens had to be added, whether it is byte-level)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    if os.path.exists(os.path.join(directory, "tokenizer.json")):
        tokenizer = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    elif not os.path.exists(os.path.join(directory, "vocab.json")):
        raise EngineError(f"No tokenizer.json or vocab.json in {directory}", code="tokenizer_missing")
    else:  # bare vocab.json + merges.txt (assets/gpt2): GPT2TokenizerFast's pipeline
        tokenizer = Tokenizer(models.BPE.from_file(os.path.join(directory, "vocab.json"),
                                                   os.path.join(directory, "merges.txt")))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
        tokenizer.add_special_tokens([AddedToken(EOS_TOKEN, special=True, normalized=False)])
    missing = [token for token in CHAT_TOKENS if tokenizer.token_to_id(token) is None]
    if missing:
        tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in missing])
    return tokenizer, bool(missing), _is_byte_level(tokenizer)


def chat_tokenizer_backend(directory: str):
    """(the `tokenizers` tokenizer of `directory` with the chat tokens, whether they were added
    here: False for an instruction run's own tokenizer, whether it is byte-level); cached by
    path and files' time."""
    return _backends.get(directory, _build)


def _is_byte_level(tokenizer) -> bool:
    """GPT-2's kind of tokenizer (tokens are bytes written as printable characters)."""
    parts = [tokenizer.pre_tokenizer, tokenizer.decoder]  # their JSON only, not the vocabulary's
    return any(part is not None and b"ByteLevel" in part.__getstate__() for part in parts)


def chat_token_view(directory: str, messages: list[dict]) -> dict:
    """The rendered conversation and its tokens: id, text, bytes (hex), partial (the token holds
    only part of a character), role (the message it belongs to), special (a chat marker) and
    counts (its label is not -100: the assistant's content and its closing <|end|>).
    `chat_tokens_added`: the tokenizer lacked the chat tokens (they get the next ids, as
    `chat.chat_tokenizer` gives them when an instruction run starts from it)."""
    tokenizer, added, byte_level = chat_tokenizer_backend(directory)
    text, spans, owners, position = "", [], [], 0
    for message in messages:
        head = ROLE_TOKENS[message["role"]]
        start = position + len(head)
        piece = f"{head}{message['content']}{END}\n"
        if message["role"] == "assistant":
            spans.append((start, start + len(message["content"]) + len(END)))
        owners.append((position, position + len(piece), message["role"]))
        text += piece
        position += len(piece)
    assert text == render(messages)
    encoding = tokenizer.encode(text, add_special_tokens=False)
    special = set(CHAT_TOKENS) | {EOS_TOKEN}
    rows = []
    for token_id, token, (begin, end) in zip(encoding.ids, encoding.tokens, encoding.offsets):
        is_special = token in special
        fallback = None if is_special or byte_level else BYTE_TOKEN.match(token)
        if fallback:  # byte fallback (a from-scratch vocabulary): <0xNN> holds one byte
            raw = bytes([int(fallback.group(1), 16)])
        elif is_special or not byte_level:
            raw = (token if is_special else text[begin:end]).encode("utf-8")
        else:
            raw = bytes(_BYTE_OF_CHAR.get(char, 63) for char in token)
        try:
            shown, partial = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            shown, partial = text[begin:end], True
        role = next((r for low, high, r in owners if low <= begin < high), "")
        rows.append({
            "id": int(token_id), "text": shown, "bytes": raw.hex(" "), "byte_length": len(raw),
            "partial": partial, "special": is_special, "role": role,
            "counts": any(low <= begin < high for low, high in spans),
        })
    return {"text": text, "tokens": rows, "count": len(rows), "counted": sum(1 for row in rows if row["counts"]),
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True), "chat_tokens_added": added,
            "ignore_label": IGNORE}
