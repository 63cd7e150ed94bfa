"""The learning lab: which models a student may open, and the views of a model that the
explorers draw (tokens, next-token probabilities, attention, the loss curve).

lab/views.py parses and caps the request, calls these functions and returns their dicts as
JSON. The engine does the tensor work through its public API (`training.engine`); this module
adds what the lessons need around it (the request caps, character spans of tokens, the model's
name and code) and finds runs only through `training.selectors`.
"""
import json
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from training import selectors
from training.engine import (
    EngineError, attention_weights, configure_inference, gpt2_tokenizer_dir, next_token_distribution,
    tokenize_view, vocabulary_size,
)
from training.loss_reading import bpc_summary, loss_observation, observation_text

# Caps on what one request may ask for: every answer stays well under 0.5 s on 2 CPU cores.
MAX_TOKENIZE_CHARS = 500
MAX_PROMPT_CHARS = 500
MAX_ATTENTION_CHARS = 200
MAX_ATTENTION_TOKENS = 32
DEFAULT_ATTENTION_TOKENS = 24
MAX_PICKED_TOKENS = 64
MAX_CANDIDATES = 50
MAX_TEMPERATURE = 3.0


class LabInputError(Exception):
    """A request the lab refuses, with a stable code for the JSON answer."""

    def __init__(self, code: str, message: str, *, status: int = 400, **params):
        super().__init__(message)
        self.code, self.message, self.status, self.params = code, message, status, params


# -- models ----------------------------------------------------------------------------

def _configure_inference() -> None:
    # The engine keeps loaded models in an LRU; the lab is its main user in the web process,
    # so the operator's LAB_MAX_LOADED_MODELS bounds it. One intra-op thread per request:
    # small models gain nothing from more, and on a busy 2-core machine competing OpenMP
    # threads turn 10 ms forwards into 400 ms ones (bench/lab_latency.py --threads 2 shows
    # it). LAB_TORCH_THREADS=0 leaves torch's default.
    configure_inference(max_models=settings.LAB_MAX_LOADED_MODELS, threads=settings.LAB_TORCH_THREADS)


def lab_runs(user) -> list:
    """The user's succeeded runs (newest first), then the site's demo run."""
    runs = selectors.lab_models_for_user(user)
    own = sorted((r for r in runs if r.owner_id == user.pk), key=lambda r: r.created_at, reverse=True)
    return own + [r for r in runs if r.owner_id != user.pk]


def run_model_dir(run) -> str:
    """The run's exported model directory; a missing export (files deleted) is a clear error."""
    export = run.export_dir
    if export is None or not (Path(export) / "config.json").is_file():
        raise LabInputError("model_missing", _("The files of this model are missing. Train it again."),
                            status=404)
    _configure_inference()
    return str(export)


def _architecture(model_dir: Path) -> dict:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return {key: config.get(key) for key in ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions")}


def run_summary(run, user) -> dict:
    export = run.export_dir
    return {
        "code": str(run.code),
        "name": run.display_name,
        "is_demo": run.is_demo,
        "is_own": run.owner_id == user.pk,
        "base": run.base_label,
        "language": run.dataset.language if run.dataset_id and run.dataset else "",
        "created": run.created_at.isoformat(),
        "architecture": _architecture(Path(export)) if export else {},
    }


def lab_models(user) -> dict:
    models = [run_summary(run, user) for run in lab_runs(user)]
    return {"models": models, "default": models[0]["code"] if models else None,
            "demo_training": None if models else selectors.demo_in_training()}


# -- tokenizer explorer ----------------------------------------------------------------

def _char_index_of_bytes(text: str) -> list[int]:
    """For each UTF-8 byte of `text`, the index of the character it belongs to."""
    index = []
    for position, char in enumerate(text):
        index.extend([position] * len(char.encode("utf-8")))
    return index


def token_rows(tokenizer_dir: str, text: str) -> list[dict]:
    """The engine's tokens with the characters each one touches. A byte-level token may hold
    only part of a character (most Japanese characters are 3 bytes): it is marked partial."""
    owner_of_byte = _char_index_of_bytes(text)
    boundaries = {len(text[:i].encode("utf-8")) for i in range(len(text) + 1)} if text else {0}
    rows = []
    for token in tokenize_view(tokenizer_dir, text):
        start, end = token["start"], token["end"]
        if end < start or end > len(owner_of_byte):
            continue
        if end == start:  # a SentencePiece word marker ("▁") that holds no character of the text
            position = owner_of_byte[start] if start < len(owner_of_byte) else len(text)
            rows.append({"id": token["id"], "text": token["text"], "bytes": "", "byte_length": 0, "start": start,
                         "end": end, "char_start": position, "char_end": position, "partial": False})
            continue
        first, last = owner_of_byte[start], owner_of_byte[end - 1]
        rows.append({
            "id": token["id"], "text": text[first:last + 1], "bytes": token["bytes"], "byte_length": end - start,
            "start": start, "end": end, "char_start": first, "char_end": last + 1,
            "partial": start not in boundaries or end not in boundaries,
        })
    return rows


def _tokenizer_figures(key: str, tokenizer_dir: str, text: str) -> dict:
    rows = token_rows(tokenizer_dir, text)
    chars = len(text)
    return {
        "key": key,
        "vocab_size": vocabulary_size(tokenizer_dir),
        "count": len(rows),
        "tokens_per_char": round(len(rows) / chars, 3) if chars else 0.0,
        "chars_per_token": round(chars / len(rows), 3) if rows else 0.0,
        "partial_tokens": sum(1 for row in rows if row["partial"]),
        "tokens": rows,
    }


def _is_japanese(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xFF00 <= code <= 0xFFEF


def tokenize_compare(text: str, run=None) -> dict:
    """The text under the real GPT-2 tokenizer and, with a run, under the run's own tokenizer."""
    if len(text) > MAX_TOKENIZE_CHARS:
        raise LabInputError("too_long", _("The text is too long (at most %(max)s characters).")
                            % {"max": MAX_TOKENIZE_CHARS}, max=MAX_TOKENIZE_CHARS)
    sides = [_tokenizer_figures("gpt2", gpt2_tokenizer_dir(), text)]
    if run is not None:
        sides.append({**_tokenizer_figures("run", run_model_dir(run), text), "model": str(run.code),
                      "name": run.display_name})
        sides[1]["same_as_gpt2"] = [r["id"] for r in sides[1]["tokens"]] == [r["id"] for r in sides[0]["tokens"]] \
            and sides[1]["vocab_size"] == sides[0]["vocab_size"]
    chars, size = len(text), len(text.encode("utf-8"))
    return {
        "text": text, "chars": chars, "bytes": size,
        "bytes_per_char": round(size / chars, 3) if chars else 0.0,
        "japanese_chars": sum(1 for char in text if _is_japanese(char)),
        "tokenizers": sides,
    }


# -- next-token explorer ---------------------------------------------------------------

def next_token_view(run, prompt: str, *, picked: list[int] = (), temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, k: int = 10, seed: int = 0) -> dict:
    """The most likely next tokens after the prompt plus the tokens picked so far (token ids:
    see training.engine.next_token_distribution), and what sampling would choose now."""
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LabInputError("too_long", _("The prompt is too long (at most %(max)s characters).")
                            % {"max": MAX_PROMPT_CHARS}, max=MAX_PROMPT_CHARS)
    if len(picked) > MAX_PICKED_TOKENS:
        raise LabInputError("too_many_picks", _("You picked too many tokens (at most %(max)s). Start again.")
                            % {"max": MAX_PICKED_TOKENS}, max=MAX_PICKED_TOKENS)
    try:
        answer = next_token_distribution(run_model_dir(run), prompt, picked=picked, temperature=temperature,
                                         top_k=top_k, top_p=top_p, k=min(k, MAX_CANDIDATES), seed=seed)
    except EngineError as error:
        if error.code != "bad_token":
            raise
        raise LabInputError("bad_token", _("A picked token does not belong to this model's vocabulary.")) from None
    return {"model": str(run.code), **answer,
            "settings": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "k": k}}


# -- attention view --------------------------------------------------------------------

def attention_view(run, text: str, *, max_tokens: int = DEFAULT_ATTENTION_TOKENS) -> dict:
    """Attention weights of every head in every layer; matrix[i][j] is how much token i looks
    at token j. Above the diagonal the causal mask makes every weight zero."""
    if len(text) > MAX_ATTENTION_CHARS:
        raise LabInputError("too_long", _("The text is too long (at most %(max)s characters).")
                            % {"max": MAX_ATTENTION_CHARS}, max=MAX_ATTENTION_CHARS)
    model_dir = run_model_dir(run)
    limit = max(1, min(int(max_tokens), MAX_ATTENTION_TOKENS))
    result = attention_weights(model_dir, text, max_tokens=limit)
    shown = result["token_ids"] if result["total_tokens"] else []  # an empty text shows the end-of-text token
    labels = _attention_labels(model_dir, text, shown, result["pieces"]) or [
        {"text": t, "bytes": "", "partial": False} for t in result["tokens"]]
    layers = result["layers"]
    return {
        "model": str(run.code),
        "tokens": labels,
        "n_layer": len(layers),
        "n_head": len(layers[0]) if layers else 0,
        "layers": layers,
        "total_tokens": result["total_tokens"],
        "truncated": result["total_tokens"] > len(result["tokens"]),
        "max_tokens": limit,
    }


def _attention_labels(model_dir: str, text: str, ids: list[int], pieces: list[dict]) -> list[dict]:
    """Row and column labels: the characters each token touches (a half character shows the
    whole character, marked partial), as in the tokenizer explorer."""
    rows = token_rows(model_dir, text)[:len(ids)]
    if [row["id"] for row in rows] != ids:  # not the same split (should not happen): label by token alone
        return pieces
    return [{"text": row["text"], "bytes": row["bytes"], "partial": row["partial"]} for row in rows]


# -- my run's loss ---------------------------------------------------------------------

def run_loss_view(user, code=None) -> dict:
    """The loss history of the user's run `code` (or their latest run), with an observation.
    A student without runs sees the demo run's curve, marked as such."""
    run = selectors.run_for_loss_curve(user, code)
    if run is None:
        return {"run": None, "history": [], "observation": None}
    history = [{"step": int(p["step"]), "train_loss": p.get("train_loss"), "val_loss": p.get("val_loss"),
                "val_bpc": p.get("val_bpc")}
               for p in (run.history or []) if p.get("step") is not None]
    observation = loss_observation(history)
    return {
        "run": {"code": str(run.code), "name": run.display_name, "status": run.status,
                "status_label": str(run.get_status_display()), "is_demo": run.is_demo,
                "is_own": run.owner_id == user.pk},
        "history": history,
        "bpc": bpc_summary(history),
        "observation": {**observation, "text": observation_text(observation)},
    }
