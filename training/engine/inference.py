"""Inference for the site's playground and lab: generation, next-token probabilities, tokens
with byte spans, and attention weights. Loaded models live in a small thread-safe LRU cache.

Every tensor operation of the site happens here (forward pass, softmax, top-k, sampling): the
callers get plain dicts and lists. A long-lived process (the site's inference worker) sets its
bounds with `configure_inference`; every public function is safe to call from several threads.
"""
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from .bases import is_local_model_dir
from .errors import EngineError
from .sampling import MAX_PROMPT_CHARS, SamplingSettings, sample_text
from .tokenization import load_tokenizer, token_bytes

DEFAULT_MODEL_CACHE_SIZE = 3
MAX_TOKENIZE_CHARS = 5000
MAX_ATTENTION_TOKENS = 64
MAX_TOP_K = 100

_cache_size = DEFAULT_MODEL_CACHE_SIZE


def configure_inference(*, max_models: int | None = None, threads: int | None = None) -> None:
    """Bounds for this process: keep at most `max_models` loaded models (at least 1), and run
    torch with `threads` intra-op threads (None or 0 leaves torch's default)."""
    global _cache_size
    if max_models is not None:
        _cache_size = max(1, int(max_models))
        with _models_lock:
            _evict()
    if threads and int(threads) > 0:
        import torch

        if torch.get_num_threads() != int(threads):
            torch.set_num_threads(int(threads))


# transformers resolves its names lazily, and that is not thread-safe: when a lesson's two
# widgets ask a threaded web server for their first tokens at the same moment, one request
# fails with "cannot import name 'AutoTokenizer' from 'transformers'". The public functions
# below resolve the names they use once, one thread at a time, before anything else.
_TRANSFORMERS_NAMES = ("AutoTokenizer", "GPT2TokenizerFast", "AutoModelForCausalLM", "GenerationConfig")
_transformers_lock = threading.Lock()
_transformers_ready = False


def _prepare_transformers() -> None:
    global _transformers_ready
    if _transformers_ready:
        return
    with _transformers_lock:
        if not _transformers_ready:
            import transformers

            for name in _TRANSFORMERS_NAMES:
                getattr(transformers, name)
            _transformers_ready = True


def warm_up() -> None:
    """Import torch and transformers now (a long-lived process at its start), so that its first
    request does not pay for them (seconds, tens of seconds on a busy machine)."""
    import torch  # noqa: F401

    _prepare_transformers()


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
    _prepare_transformers()
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
            _evict()
    return loaded


def _evict() -> None:
    """Drop the least recently used models beyond the bound (the caller holds _models_lock)."""
    while len(_models) > _cache_size:
        _models.popitem(last=False)


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
             seed: int = 0, deadline: float | None = None) -> str:
    """The continuation of `prompt` (not repeated). Values are clamped to safe ranges; generation
    stops at `deadline` (time.time()) if it comes first."""
    loaded = load_model(model_dir)
    settings = SamplingSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                                top_p=top_p, repetition_penalty=repetition_penalty)
    with loaded.lock:
        return sample_text(loaded.model, loaded.tokenizer, prompt, settings, seed=seed, deadline=deadline)


MAX_CHAT_MESSAGES = 20  # a chat keeps at most this many messages (the oldest go first)
MAX_MESSAGE_CHARS = MAX_PROMPT_CHARS


def chat_reply(model_dir: str, messages: list[dict], *, max_new_tokens: int = 50, temperature: float = 0.8,
               top_k: int | None = 50, top_p: float | None = 0.95, repetition_penalty: float = 1.1,
               seed: int = 0, deadline: float | None = None) -> dict:
    """The assistant's next answer to `messages` ({"role", "content"}, the last one the user's)
    from an instruction model: the chat template is applied here, generation stops at <|end|>.

    Only the most recent messages that fit the model's context with room for the answer are
    read (a system message first is always kept); `used_messages` says how many. EngineError
    "not_chat" when the model has no chat template (a plain text run)."""
    from .chat import END, ROLES_ORDER, has_chat_tokens, render

    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    if not has_chat_tokens(tokenizer):
        raise EngineError("This model was not trained on conversations.", code="not_chat", params={})
    messages = [{"role": m["role"], "content": _without_chat_tokens(str(m["content"]))[:MAX_MESSAGE_CHARS]}
                for m in messages if m.get("role") in ROLES_ORDER][-MAX_CHAT_MESSAGES:]
    if not messages or messages[-1]["role"] != "user":
        raise EngineError("A chat needs the user's message last.", code="chat_invalid", params={})
    settings = SamplingSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                                top_p=top_p, repetition_penalty=repetition_penalty).bounded()
    room = model.config.n_positions - min(settings.max_new_tokens, model.config.n_positions - 1)
    system = messages[:1] if messages[0]["role"] == "system" and len(messages) > 1 else []
    rest = messages[len(system):]
    kept = rest
    for start in range(len(rest)):  # drop the oldest turns until the prompt fits
        kept = rest[start:]
        prompt = render(system + kept, add_generation_prompt=True)
        if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= room or len(kept) == 1:
            break
    prompt = render(system + kept, add_generation_prompt=True)
    with loaded.lock:
        reply = sample_text(model, tokenizer, prompt, settings, seed=seed,
                            stop_ids=[tokenizer.convert_tokens_to_ids(END)], deadline=deadline)
    return {"reply": reply.strip(), "used_messages": len(system) + len(kept), "prompt": prompt}


def _without_chat_tokens(text: str) -> str:
    """A message cannot speak for another role: the template's own tokens are taken out of it."""
    from .chat import CHAT_TOKENS

    for token in CHAT_TOKENS:
        text = text.replace(token, "")
    return text


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


def next_token_distribution(model_dir: str, prompt: str, *, picked=(), k: int = 10, temperature: float = 1.0,
                            top_k: int | None = None, top_p: float | None = None, seed: int = 0) -> dict:
    """The k most likely next tokens after `prompt` followed by the token ids `picked`.

    Each candidate has its probability after temperature, top-k and top-p (`probability`) and
    the model's own (`raw_probability`); candidates that the filters rule out are left out,
    except the most likely one. `sampled` is the token sampling would choose with `seed`.
    Picks are token ids, not text: a byte-level token may be half a character, which would not
    survive a round trip through text. A pick outside the vocabulary is EngineError "bad_token".
    """
    import torch

    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    vocab = model.config.vocab_size
    picked = [int(token_id) for token_id in picked]
    if any(not 0 <= token_id < vocab for token_id in picked):
        raise EngineError("A picked token is outside the vocabulary.", code="bad_token", params={"vocab_size": vocab})
    prompt_ids = tokenizer(prompt[-MAX_PROMPT_CHARS:], add_special_tokens=False)["input_ids"] if prompt else []
    ids = prompt_ids + picked
    context = ids[-model.config.n_positions:] or [tokenizer.eos_token_id]
    with loaded.lock, torch.no_grad():
        logits = model(input_ids=torch.tensor([context])).logits[0, -1].float()
    raw = torch.softmax(logits, dim=-1)
    probabilities = filtered_probabilities(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    values, order = torch.topk(probabilities, max(1, min(int(k), MAX_TOP_K, probabilities.numel())))
    generator = torch.Generator().manual_seed(int(seed))
    sampled = int(torch.multinomial(probabilities, 1, generator=generator))
    candidates = [{"token_id": int(i), **_token_piece(tokenizer, int(i)), "probability": round(float(p), 6),
                   "raw_probability": round(float(raw[int(i)]), 6)}
                  for p, i in zip(values, order) if float(p) > 0 or int(i) == int(order[0])]
    text, prompt_text = tokenizer.decode(ids), tokenizer.decode(prompt_ids)
    return {
        "text": text,
        # What the picks added; decoded together, so that two half-character picks show one character.
        "continuation": text[len(prompt_text):] if text.startswith(prompt_text) else tokenizer.decode(picked),
        "prompt_tokens": len(prompt_ids),
        "context_tokens": len(context),
        "truncated": len(ids) > len(context),
        "picked": [{"token_id": token_id, **_token_piece(tokenizer, token_id)} for token_id in picked],
        "candidates": candidates,
        "kept_tokens": int((probabilities > 0).sum()),
        "vocab_size": vocab,
        "sampled": {"token_id": sampled, **_token_piece(tokenizer, sampled),
                    "probability": round(float(probabilities[sampled]), 6)},
    }


def _token_piece(tokenizer, token_id: int) -> dict:
    """How to show one token: its text, and its raw bytes when it holds part of a character."""
    pieces = token_bytes(tokenizer, [token_id])
    text = tokenizer.decode([token_id])
    if not pieces:
        return {"text": text, "bytes": text.encode("utf-8").hex(" "), "partial": False}
    try:
        return {"text": pieces[0].decode("utf-8"), "bytes": pieces[0].hex(" "), "partial": False}
    except UnicodeDecodeError:
        return {"text": "", "bytes": pieces[0].hex(" "), "partial": True}


def vocabulary_size(tokenizer_dir: str) -> int:
    """How many tokens the tokenizer in `tokenizer_dir` (a model or tokenizer directory) knows."""
    _prepare_transformers()
    return len(load_tokenizer(tokenizer_dir))


def tokenize_view(tokenizer_dir: str, text: str) -> list[dict]:
    """Each token with its id, text, byte span [start, end) in the UTF-8 text, and its bytes in hex.

    A byte-level token may hold part of a character (common for Japanese): its text then shows
    the replacement character, while the bytes tell exactly which part it holds.
    """
    _prepare_transformers()
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
    {"tokens": [...], "layers": [[matrix per head] per layer]}, matrix[i][j] = attention of token i to j.
    Also the shown tokens' ids and pieces (text, bytes, partial), and how many tokens the whole
    text has (`total_tokens`; 0 for an empty text, shown as the end-of-text token)."""
    import torch

    loaded = load_model(model_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    limit = max(1, min(int(max_tokens), MAX_ATTENTION_TOKENS, model.config.n_positions))
    all_ids = tokenizer(text[:MAX_PROMPT_CHARS], add_special_tokens=False)["input_ids"]
    ids = all_ids[:limit] or [tokenizer.eos_token_id]
    with loaded.lock, torch.no_grad():
        output = model(input_ids=torch.tensor([ids]), output_attentions=True)
    layers = [[[[round(float(v), 4) for v in row] for row in head] for head in layer[0]]
              for layer in output.attentions]
    return {"tokens": [tokenizer.decode([i]) for i in ids], "token_ids": [int(i) for i in ids],
            "pieces": [_token_piece(tokenizer, int(i)) for i in ids], "total_tokens": len(all_ids),
            "layers": layers}
