"""Tokenizers: the genuine GPT-2 BPE shipped in assets/, one trained on a corpus for the
from-scratch base, and loading either from a directory (including SentencePiece ones such as
rinna's Japanese GPT-2, see _repair_sentencepiece)."""
import json
import math
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

EOS_TOKEN = "<|endoftext|>"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
MIN_VOCAB_SIZE = 300  # 256 byte tokens, the end-of-text token and a few merges
MAX_VOCAB_SIZE = 50257

class DirectoryCache:
    """What was built from a directory, kept for the `size` most recently used (directory,
    files' time) keys: a directory whose files change is built again."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, directory: str, build):
        directory = os.path.realpath(directory)
        key = (directory, _stamp(directory))
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        built = build(directory)
        with self.lock:
            self.items[key] = built
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return built


_tokenizers = DirectoryCache(8)


def gpt2_tokenizer_dir() -> str:
    """Directory with the real GPT-2 vocab.json and merges.txt (load with GPT2TokenizerFast.from_pretrained)."""
    return str(ASSETS_DIR / "gpt2")


def load_tokenizer(directory: str):
    """A fast tokenizer from a model or tokenizer directory; cached by path and modification time."""
    return _tokenizers.get(directory, _load_uncached)


def _stamp(directory: str) -> float:
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "spiece.model")
    return max((os.path.getmtime(os.path.join(directory, n)) for n in names
                if os.path.exists(os.path.join(directory, n))), default=0.0)


def _load_uncached(directory: str):
    from transformers import AutoTokenizer, GPT2TokenizerFast

    if os.path.exists(os.path.join(directory, "tokenizer_config.json")):
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
    else:
        # Bare vocab.json + merges.txt (like assets/gpt2). Never the constructor with
        # vocab_file=: in transformers 5 it silently builds a one-token tokenizer.
        tokenizer = GPT2TokenizerFast.from_pretrained(directory, local_files_only=True)
    tokenizer = _repair_sentencepiece(tokenizer, _tokenizer_config(directory))
    if tokenizer.eos_token is None:
        tokenizer.eos_token = EOS_TOKEN
    return tokenizer


def _tokenizer_config(directory: str) -> dict:
    try:
        with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _repair_sentencepiece(tokenizer, config: dict):
    """A SentencePiece (Unigram) tokenizer as its authors meant it, as a plain fast tokenizer.

    rinna's Japanese GPT-2 ships spiece.model with a tokenizer_config naming T5Tokenizer and
    do_lower_case. transformers 5 converts it to a T5Tokenizer that (1) maps unknown text to
    id 2, T5's <unk> but rinna's </s>, so an unknown character would end every document, and
    (2) ignores do_lower_case, although rinna's vocabulary holds lower-case Latin letters only.
    The repaired tokenizer uses the file's own <unk> id and lower-cases in its normalizer. It
    is returned as a generic fast tokenizer so that save_pretrained writes exactly this
    tokenizer.json and AutoTokenizer reads the export back with the same ids (naming
    T5Tokenizer would rebuild the faulty one). Like T5Tokenizer it appends </s> unless asked
    not to: the engine encodes with add_special_tokens=False everywhere.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return tokenizer
    state = json.loads(backend.to_str())
    model = state.get("model") or {}
    if model.get("type") != "Unigram":
        return tokenizer
    changed = False
    unk_id = tokenizer.convert_tokens_to_ids(tokenizer.unk_token) if tokenizer.unk_token else None
    if unk_id is not None and model.get("unk_id") != unk_id:
        model["unk_id"], changed = unk_id, True
    lower_case = bool(config.get("do_lower_case"))
    if lower_case and '"Lowercase"' not in json.dumps(state.get("normalizer")):
        parts = [state["normalizer"]] if state.get("normalizer") else []
        state["normalizer"] = {"type": "Sequence", "normalizers": [*parts, {"type": "Lowercase"}]}
        changed = True
    if not changed and type(tokenizer).__name__ != "T5Tokenizer":
        return tokenizer
    special = {name: value for name, value in tokenizer.special_tokens_map.items() if isinstance(value, str)}
    extra = {"do_lower_case": True} if lower_case else {}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(state)),
                                   model_max_length=tokenizer.model_max_length, **special, **extra)


def is_gpt2_vocabulary(tokenizer) -> bool:
    return len(tokenizer) == 50257 and tokenizer.convert_tokens_to_ids("Hello") == 15496


# A from-scratch vocabulary is sized to the corpus (see vocabulary_plan): with few merges a
# random model's tokens are pieces of words, and each merge is seen often enough to be learned.
MERGES_PER_SQRT_CHAR = 2.0
MIN_MERGES, MAX_MERGES = 32, 8000
MIN_CHAR_COUNT = 2  # a character seen at least this often is a token of its own
# Longest token, in characters: about one word. Japanese words are 1-4 characters (no spaces
# to stop a merge at), English ones rarely exceed 10 with their leading space.
MAX_TOKEN_CHARS_JAPANESE, MAX_TOKEN_CHARS_OTHER = 4, 10
JAPANESE_SHARE_FOR_SHORT_TOKENS = 0.3
# Like GPT-2's pre-tokenizer, so no English token crosses a word boundary; no byte mapping.
WORD_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
BYTE_TOKEN = re.compile(r"^<0x([0-9A-F]{2})>$")


def vocabulary_plan(texts, *, vocab_size: int | None = None) -> dict:
    """How a corpus is turned into a vocabulary: its alphabet and how many merges to learn.

    Merges grow with the square root of the corpus (2 * sqrt(chars), bounded): the number
    of distinct words grows roughly that way (Heaps' law), so tokens stay words and parts
    of words; a 25k-character diary gets ~300 merges, not 4,000 whole phrases. Every
    character seen MIN_CHAR_COUNT times is in the alphabet; `vocab_size`, when given, bounds
    the merges (never the alphabet or the 256 byte tokens).
    """
    from collections import Counter

    from .corpus import text_figures

    counts = Counter()
    for text in texts:
        counts.update(text)
    chars = sum(counts.values())
    alphabet = sorted((c for c, n in counts.items() if n >= MIN_CHAR_COUNT), key=lambda c: (-counts[c], c))
    merges = int(max(MIN_MERGES, min(MAX_MERGES, round(MERGES_PER_SQRT_CHAR * math.sqrt(chars)))))
    if vocab_size:
        merges = max(0, min(merges, int(vocab_size) - 1 - 256 - len(alphabet)))
    japanese = text_figures(list(texts))["japanese_share"]
    longest = MAX_TOKEN_CHARS_JAPANESE if japanese >= JAPANESE_SHARE_FOR_SHORT_TOKENS else MAX_TOKEN_CHARS_OTHER
    return {"chars": chars, "alphabet": alphabet, "merges": merges, "max_token_chars": longest}


def train_bpe_tokenizer(texts, output_dir: str, *, vocab_size: int | None = None,
                        model_max_length: int = 1024) -> str:
    """Train a BPE with byte fallback on the corpus (as Llama's and SentencePiece's) and save
    it as a HF tokenizer directory (tokenizer.json + tokenizer_config.json).

    Ids: 0 is the end-of-text token, 1-256 the byte tokens <0x00>..<0xFF> (used only for
    characters rarer than MIN_CHAR_COUNT, so no frequent character is ever cut into bytes),
    then the alphabet and the merges.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    plan = vocabulary_plan(texts, vocab_size=vocab_size)
    split = pre_tokenizers.Split(Regex(WORD_SPLIT), behavior="isolated")
    draft = Tokenizer(models.BPE())
    draft.pre_tokenizer = split
    trainer = trainers.BpeTrainer(
        vocab_size=1 + len(plan["alphabet"]) + plan["merges"], min_frequency=MIN_CHAR_COUNT,
        special_tokens=[EOS_TOKEN], initial_alphabet=plan["alphabet"], limit_alphabet=len(plan["alphabet"]),
        max_token_length=plan["max_token_chars"], show_progress=False)
    draft.train_from_iterator(texts, trainer)
    learned = json.loads(draft.to_str())["model"]
    vocab = {EOS_TOKEN: 0}
    vocab.update({f"<0x{byte:02X}>": byte + 1 for byte in range(256)})
    for token, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(pair) if isinstance(pair, list) else tuple(pair.split(" ", 1)) for pair in learned["merges"]]
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True))
    backend.pre_tokenizer = split
    backend.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    backend.add_special_tokens([EOS_TOKEN])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN,
                                        unk_token=EOS_TOKEN, model_max_length=int(model_max_length))
    tmp = output_dir + ".tmp"
    _remove_dir(tmp)
    tokenizer.save_pretrained(tmp)
    make_portable(tmp)
    _replace_dir(tmp, output_dir)
    return output_dir


def make_portable(directory: str) -> None:
    """transformers 5 names its fast tokenizer class TokenizersBackend, which transformers 4
    does not know; PreTrainedTokenizerFast (the same class in 5) loads in both."""
    path = os.path.join(directory, "tokenizer_config.json")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False)


def has_byte_fallback(tokenizer) -> bool:
    """A BPE vocabulary with <0xNN> byte tokens for rare characters (trained by train_bpe_tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return bool(backend is not None and getattr(backend.model, "byte_fallback", False))


def byte_fallback_ids(tokenizer) -> list[int]:
    """The ids of the <0xNN> byte tokens: generation suppresses them, so a from-scratch model
    writes only characters of its training text (never a broken byte or U+FFFD)."""
    if not has_byte_fallback(tokenizer):
        return []
    vocab = tokenizer.get_vocab()
    return sorted(vocab[f"<0x{byte:02X}>"] for byte in range(256) if f"<0x{byte:02X}>" in vocab)


def tokenizer_summary(tokenizer, *, tokens: int, chars: int, longest: int = 8) -> dict:
    """What a trained vocabulary holds, for the result page: size, tokens per character of the
    corpus, and its longest tokens (what it learned to keep whole)."""
    special = set(tokenizer.all_special_tokens)
    pieces = []
    for token, token_id in tokenizer.get_vocab().items():
        if token in special or BYTE_TOKEN.match(token):
            continue
        pieces.append((tokenizer.decode([token_id]), token_id))
    # Longest first; among equals the earlier merge, which BPE made because it was more frequent.
    pieces.sort(key=lambda item: (-len(item[0]), item[1]))
    return {"vocab_size": len(tokenizer), "byte_fallback": has_byte_fallback(tokenizer),
            "tokens_per_char": round(tokens / max(1, chars), 4),
            "longest_tokens": [piece for piece, _ in pieces[:longest]]}


def _replace_dir(source: str, target: str) -> None:
    if os.path.exists(target):
        _remove_dir(target)
    os.replace(source, target)


def _remove_dir(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def token_bytes(tokenizer, token_ids: list[int]) -> list[bytes]:
    """The raw bytes behind each token: of a byte-level BPE (GPT-2; a token may hold part of a
    character) or of a BPE with byte fallback (<0xNN> tokens hold one byte, the others whole
    characters). [] for other vocabularies."""
    tokens = tokenizer.convert_ids_to_tokens(token_ids)
    special = set(tokenizer.all_special_tokens)
    if has_byte_fallback(tokenizer):
        pieces = []
        for token in tokens:
            match = BYTE_TOKEN.match(token)
            pieces.append(bytes([int(match.group(1), 16)]) if match else token.encode("utf-8"))
        return pieces
    decoder = {char: byte for byte, char in _bytes_to_unicode().items()}
    pieces = []
    for token in tokens:
        if token in special:
            pieces.append(token.encode("utf-8"))
        elif all(char in decoder for char in token):
            pieces.append(bytes(decoder[char] for char in token))
        else:
            return []  # not a byte-level vocabulary
    return pieces


def chars_per_token(tokenizer):
    """For each token id, how many characters it starts (UTF-8 lead bytes in its bytes): summed
    over any run of tokens this is exactly its character count, even where a byte-level token
    holds part of a character. The end-of-text token counts as one (a document break).
    Other vocabularies: the length of each token's decoded text (an approximation)."""
    import numpy as np

    size = len(tokenizer)
    ids = list(range(size))
    pieces = token_bytes(tokenizer, ids)
    if len(pieces) == size:
        counts = [sum(1 for b in piece if b & 0xC0 != 0x80) for piece in pieces]
    else:
        counts = [len(tokenizer.decode([i])) for i in ids]
    table = np.asarray(counts, dtype=np.int64)
    for token_id in tokenizer.all_special_ids:
        if 0 <= token_id < size:
            table[token_id] = 1
    return table


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from each byte to the printable character that stands for it in the vocabulary."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table
