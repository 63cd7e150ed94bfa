"""Helpers for the site's playground: generation, next-token probabilities, tokens with byte
spans, and attention weights. Loaded models live in a small thread-safe LRU cache."""
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from .bases import is_local_model_dir
from .errors import EngineError
from .sampling import MAX_PROMPT_CHARS, SamplingSettings, sample_text
from .tokenization import load_tokenizer, token_bytes

# The engine never imports Django, so it reads its own variable (listed in README's table);
# in the site, the lab sets this from settings.LAB_MAX_LOADED_MODELS.
MODEL_CACHE_SIZE = int(os.environ.get("LLMSCHOOL_MODEL_CACHE_SIZE", "3"))
MAX_TOKENIZE_CHARS = 5000
MAX_ATTENTION_TOKENS = 64
MAX_TOP_K = 100


@dataclass
class LoadedModel:
    model_dir: str
    model: object
    tokenizer: object
    # One request at a time per model: the seed is process-global torch state.
    lock: threading.Lock = field(default_factory=threading.Lock)


_models: OrderedDict = OrderedDict()
_models_lock = threading.Lock()
_loading_locks: dict = {}


def load_model(model_dir: str) -> LoadedModel:
    """The exported model in `model_dir`, loaded once and kept (the least recently used goes first)."""
    model_dir = os.path.realpath(model_dir)
    if not is_local_model_dir(model_dir):
        raise EngineError(f"No model found in {model_dir}.", code="model_missing", params={"model_dir": model_dir})
    key = (model_dir, os.path.getmtime(os.path.join(model_dir, "config.json")))
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        loading = _loading_locks.setdefault(key, threading.Lock())
    with loading:  # two threads asking for the same new model load it once
        with _models_lock:
            if key in _models:
                return _models[key]
        loaded = _load(model_dir)
        with _models_lock:
            _models[key] = loaded
            _loading_locks.pop(key, None)
            while len(_models) > MODEL_CACHE_SIZE:
                _models.popitem(last=False)
    return loaded


def _load(model_dir: str) -> LoadedModel:
    from transformers import AutoModelForCausalLM

    # eager attention: the only implementation that returns attention weights.
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, use_safetensors=True, trust_remote_code=False, local_files_only=True,
        dtype="float32", attn_implementation="eager",
    )
    model.eval()
    return LoadedModel(model_dir=model_dir, model=model, tokenizer=load_tokenizer(model_dir))


def clear_model_cache() -> None:
    with _models_lock:
        _models.clear()


def generate(model_dir: str, prompt: str, *, max_new_tokens: int = 50, temperature: float = 0.8,
             top_k: int | None = 50, top_p: float | None = 0.95, repetition_penalty: float = 1.1,
             seed: int = 0) -> str:
    """The continuation of `prompt` (not repeated). Values are clamped to safe ranges."""
    loaded = load_model(model_dir)
    settings = SamplingSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                                top_p=top_p, repetition_penalty=repetition_penalty)
    with loaded.lock:
        return sample_text(loaded.model, loaded.tokenizer, prompt, settings, seed=seed)


def filtered_probabilities(logits, *, temperature: float, top_k: int | None = None, top_p: float | None = None):
    """Next-token probabilities after temperature, top-k and top-p, as sampling applies them.
    Temperature 0 is greedy decoding: all the probability on the most likely token."""
    import torch

    if temperature <= 0:
        probabilities = torch.zeros_like(logits)
        probabilities[int(torch.argmax(logits))] = 1.0
        return probabilities
    logits = logits / temperature
    if top_k:
        kth = torch.topk(logits, min(int(top_k), logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    if top_p and top_p < 1.0:
        sorted_p, order = torch.sort(probabilities, descending=True)
        outside = torch.cumsum(sorted_p, dim=-1) - sorted_p >= top_p  # keep the smallest set reaching top_p
        probabilities[order[outside]] = 0.0
        probabilities = probabilities / probabilities.sum()
    return probabilities


def next_token_distribution(model_dir: str, prompt: str, *, k: int = 10, temperature: float = 1.0,
                            top_k: int | None = None, top_p: float | None = None) -> list[dict]:
    """The k most likely next tokens with their probabilities after temperature, top-k and top-p."""
    import torch

    from .sampling import prompt_ids

    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    with loaded.lock, torch.no_grad():
        ids = prompt_ids(model, tokenizer, prompt, room=0)
        logits = model(input_ids=ids).logits[0, -1].float()
    probabilities = filtered_probabilities(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    values, token_ids = torch.topk(probabilities, max(1, min(int(k), MAX_TOP_K, probabilities.numel())))
    return [{"token_id": int(i), "text": tokenizer.decode([int(i)]), "probability": round(float(p), 6)}
            for p, i in zip(values, token_ids)]


def tokenize_view(tokenizer_dir: str, text: str) -> list[dict]:
    """Each token with its id, text, byte span [start, end) in the UTF-8 text, and its bytes in hex.

    A byte-level token may hold part of a character (common for Japanese): its text then shows
    the replacement character, while the bytes tell exactly which part it holds.
    """
    tokenizer = load_tokenizer(tokenizer_dir)
    text = text[:MAX_TOKENIZE_CHARS]
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    pieces = token_bytes(tokenizer, ids)
    markers = [False] * len(ids)
    if not pieces or b"".join(pieces) != text.encode("utf-8"):  # not byte-level: spans of characters
        spans, markers = _character_spans(tokenizer.convert_ids_to_tokens(ids), encoded["offset_mapping"], text)
        pieces = [text[a:b].encode("utf-8") for a, b in spans]
        starts = [len(text[:a].encode("utf-8")) for a, _ in spans]
    else:
        starts, position = [], 0
        for piece in pieces:
            starts.append(position)
            position += len(piece)
    return [{"id": int(token_id), "start": start, "end": start + len(piece), "bytes": piece.hex(" "),
             "text": WORD_MARKER if marker and not piece else piece.decode("utf-8", errors="replace")}
            for token_id, piece, start, marker in zip(ids, pieces, starts, markers)]


WORD_MARKER = "\u2581"  # SentencePiece's "▁": a word starts here (it stands for the space before it)


def _character_spans(tokens: list[str], offsets, text: str) -> tuple[list[tuple[int, int]], list[bool]]:
    """Character spans that do not overlap, and which tokens are a bare word marker.

    A SentencePiece tokenizer (rinna's) puts a bare "▁" token before some words; its offsets
    repeat those of the next token. It stands for the white space it replaced (a space or a
    line break, which the tokenizer drops), or for nothing at the start of the text.
    """
    spans, markers, end = [], [], 0
    for token, (a, b) in zip(tokens, offsets):
        marker = token == WORD_MARKER
        if marker:
            gap = text[end:a] if a >= end else ""
            span = (end, a) if gap and not gap.strip() else (max(a, end), max(a, end))
        else:
            start = max(a, end)
            span = (start, max(b, start))
        spans.append(span)
        markers.append(marker)
        end = span[1]
    return spans, markers


def attention_weights(model_dir: str, text: str, *, max_tokens: int = 24) -> dict:
    """Attention of each head in each layer over the first tokens of `text`:
    {"tokens": [...], "layers": [[matrix per head] per layer]}, matrix[i][j] = attention of token i to j."""
    import torch

    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    limit = max(1, min(int(max_tokens), MAX_ATTENTION_TOKENS, model.config.n_positions))
    ids = tokenizer(text[:MAX_PROMPT_CHARS], add_special_tokens=False)["input_ids"][:limit] or [tokenizer.eos_token_id]
    with loaded.lock, torch.no_grad():
        output = model(input_ids=torch.tensor([ids]), output_attentions=True)
    layers = [[[[round(float(v), 4) for v in row] for row in head] for head in layer[0]]
              for layer in output.attentions]
    return {"tokens": [tokenizer.decode([i]) for i in ids], "layers": layers}
