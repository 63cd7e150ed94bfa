"""Tokenizers: the genuine GPT-2 BPE shipped in assets/, one trained on a corpus for the
from-scratch base, and loading either from a directory."""
import os
import threading
from collections import OrderedDict
from pathlib import Path

EOS_TOKEN = "<|endoftext|>"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
MIN_VOCAB_SIZE = 300  # 256 byte tokens, the end-of-text token and a few merges
MAX_VOCAB_SIZE = 50257

_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 8


def gpt2_tokenizer_dir() -> str:
    """Directory with the real GPT-2 vocab.json and merges.txt (load with GPT2TokenizerFast.from_pretrained)."""
    return str(ASSETS_DIR / "gpt2")


def load_tokenizer(directory: str):
    """A fast tokenizer from a model or tokenizer directory; cached by path and modification time."""
    directory = os.path.realpath(directory)
    key = (directory, _stamp(directory))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    tokenizer = _load_uncached(directory)
    with _cache_lock:
        _cache[key] = tokenizer
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return tokenizer


def _stamp(directory: str) -> float:
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
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
    if tokenizer.eos_token is None:
        tokenizer.eos_token = EOS_TOKEN
    return tokenizer


def is_gpt2_vocabulary(tokenizer) -> bool:
    return len(tokenizer) == 50257 and tokenizer.convert_tokens_to_ids("Hello") == 15496


def train_bpe_tokenizer(texts, output_dir: str, *, vocab_size: int) -> str:
    """Train a byte-level BPE (like GPT-2's, smaller) on the corpus and save it as a HF tokenizer dir."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    vocab_size = max(MIN_VOCAB_SIZE, min(MAX_VOCAB_SIZE, int(vocab_size)))
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2,
                            special_tokens=[EOS_TOKEN], show_progress=False)
    tmp = output_dir + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    bpe.save_model(tmp)  # vocab.json + merges.txt
    tokenizer = GPT2TokenizerFast.from_pretrained(tmp, local_files_only=True)
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = EOS_TOKEN
    tokenizer.model_max_length = 1024
    final_tmp = output_dir + ".tmp2"
    tokenizer.save_pretrained(final_tmp)
    _replace_dir(final_tmp, output_dir)
    _remove_dir(tmp)
    return output_dir


def _replace_dir(source: str, target: str) -> None:
    if os.path.exists(target):
        _remove_dir(target)
    os.replace(source, target)


def _remove_dir(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def token_bytes(tokenizer, token_ids: list[int]) -> list[bytes]:
    """The raw bytes behind each token of a byte-level BPE (a token may hold part of a character)."""
    decoder = {char: byte for byte, char in _bytes_to_unicode().items()}
    pieces = []
    for token in tokenizer.convert_ids_to_tokens(token_ids):
        if token in tokenizer.all_special_tokens:
            pieces.append(token.encode("utf-8"))
        elif all(char in decoder for char in token):
            pieces.append(bytes(decoder[char] for char in token))
        else:
            return []  # not a byte-level vocabulary
    return pieces


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
