"""Tokenizers: the genuine GPT-2 BPE shipped in assets/, one trained on a corpus for the
from-scratch base, and loading either from a directory (including SentencePiece ones such as
rinna's Japanese GPT-2, see _repair_sentencepiece)."""
import json
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
