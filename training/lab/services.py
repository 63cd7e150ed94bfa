"""The learning lab: which models a student may open, and the views of a model that the
explorers draw (tokens, next-token probabilities, attention, the loss curve).

lab/views.py parses and caps the request, calls these functions and returns their dicts as
JSON. Nothing here loads a model: the tensor work runs on an inference worker
(`training.inference.inference_call`, tasks in training/inference_tasks.py), which may answer
"busy" or refuse a student over their limits (training.inference.InferenceError). This module
adds what the lessons need around it (the request caps, the model's name and code) and finds
runs only through `training.selectors`.
"""
import json
from pathlib import Path

from django.utils.translation import gettext as _

from training import selectors
from training.inference import InferenceEngineError, inference_call
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
# Below this a temperature is greedy decoding (1e-45 would overflow the division of the logits).
GREEDY_BELOW = 1e-4


class LabInputError(Exception):
    """A request the lab refuses, with a stable code for the JSON answer."""

    def __init__(self, code: str, message: str, *, status: int = 400, **params):
        super().__init__(message)
        self.code, self.message, self.status, self.params = code, message, status, params


# -- models ----------------------------------------------------------------------------

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
    return str(export)


def _missing_model() -> LabInputError:
    return LabInputError("model_missing", _("The files of this model are missing. Train it again."), status=404)


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

def _is_japanese(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xFF00 <= code <= 0xFFEF


def tokenize_compare(user, text: str, run=None) -> dict:
    """The text under the real GPT-2 tokenizer and, with a run, under the run's own tokenizer."""
    if len(text) > MAX_TOKENIZE_CHARS:
        raise LabInputError("too_long", _("The text is too long (at most %(max)s characters).")
                            % {"max": MAX_TOKENIZE_CHARS}, max=MAX_TOKENIZE_CHARS)
    model_dir = run_model_dir(run) if run is not None else None
    try:
        answer = inference_call(user, "tokenize", {"text": text, "model_dir": model_dir})
    except InferenceEngineError as error:
        if error.code == "model_missing":
            raise _missing_model() from None
        raise
    sides = [{"key": "gpt2", **answer["gpt2"]}]
    if run is not None:
        sides.append({"key": "run", **answer["run"], "model": str(run.code), "name": run.display_name})
        sides[1]["same_as_gpt2"] = [r["id"] for r in sides[1]["tokens"]] == [r["id"] for r in sides[0]["tokens"]] \
            and sides[1]["vocab_size"] == sides[0]["vocab_size"]
    chars, size = len(text), len(text.encode("utf-8"))
    return {
        "text": text, "chars": chars, "bytes": size,
        "bytes_per_char": round(size / chars, 3) if chars else 0.0,
        "japanese_chars": sum(1 for char in text if _is_japanese(char)),
        "tokenizers": sides,
    }


# -- chat template ---------------------------------------------------------------------

CHAT_ROLES = ("system", "user", "assistant")
MAX_CHAT_MESSAGE_CHARS = 300  # each message of the chat-template widget


def chat_template_view(system: str, user: str, assistant: str, run=None) -> dict:
    """A short conversation rendered with the chat template of instruction runs and split by
    the GPT-2 tokenizer (or the run's own) with the chat tokens, each token marked by whether
    its loss counts (training.engine.chat_view: the `tokenizers` library only, no model and
    no torch, so it runs in the web process)."""
    from training.engine import EngineError, chat_token_view, gpt2_tokenizer_dir

    texts = {"system": system, "user": user, "assistant": assistant}
    for role, text in texts.items():
        if len(text) > MAX_CHAT_MESSAGE_CHARS:
            raise LabInputError("too_long", _("Each message may have at most %(max)s characters.")
                                % {"max": MAX_CHAT_MESSAGE_CHARS}, max=MAX_CHAT_MESSAGE_CHARS, role=role)
    if not user.strip() or not assistant.strip():
        raise LabInputError("empty_message", _("Write both the user's message and the assistant's answer."))
    messages = [{"role": role, "content": texts[role]} for role in CHAT_ROLES if role != "system" or system.strip()]
    if run is None:
        return {"messages": messages, "tokenizer": {"key": "gpt2"}, **chat_token_view(gpt2_tokenizer_dir(), messages)}
    try:
        view = chat_token_view(run_model_dir(run), messages)
    except EngineError as error:
        if error.code != "tokenizer_missing":
            raise
        raise LabInputError("model_missing", _("The files of this model are missing. Train it again."),
                            status=404) from None
    return {"messages": messages, "tokenizer": {"key": "run", "model": str(run.code), "name": run.display_name},
            **view}


# -- next-token explorer ---------------------------------------------------------------

def next_token_view(user, run, prompt: str, *, picked: list[int] = (), temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, k: int = 10, seed: int = 0) -> dict:
    """The most likely next tokens after the prompt plus the tokens picked so far (token ids:
    see training.engine.next_token_distribution), and what sampling would choose now.
    A temperature too small to divide by is greedy decoding, like 0."""
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LabInputError("too_long", _("The prompt is too long (at most %(max)s characters).")
                            % {"max": MAX_PROMPT_CHARS}, max=MAX_PROMPT_CHARS)
    if len(picked) > MAX_PICKED_TOKENS:
        raise LabInputError("too_many_picks", _("You picked too many tokens (at most %(max)s). Start again.")
                            % {"max": MAX_PICKED_TOKENS}, max=MAX_PICKED_TOKENS)
    temperature = 0.0 if temperature < GREEDY_BELOW else temperature
    try:
        answer = inference_call(user, "next_token", {
            "model_dir": run_model_dir(run), "prompt": prompt, "picked": [int(i) for i in picked],
            "temperature": float(temperature), "top_k": top_k, "top_p": top_p, "k": min(k, MAX_CANDIDATES),
            "seed": int(seed)})
    except InferenceEngineError as error:
        if error.code == "bad_token":
            raise LabInputError("bad_token", _("A picked token does not belong to this model's vocabulary.")) from None
        if error.code == "model_missing":
            raise _missing_model() from None
        raise
    return {"model": str(run.code), **answer,
            "settings": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "k": k}}


# -- attention view --------------------------------------------------------------------

def attention_view(user, run, text: str, *, max_tokens: int = DEFAULT_ATTENTION_TOKENS) -> dict:
    """Attention weights of every head in every layer; matrix[i][j] is how much token i looks
    at token j. Above the diagonal the causal mask makes every weight zero."""
    if len(text) > MAX_ATTENTION_CHARS:
        raise LabInputError("too_long", _("The text is too long (at most %(max)s characters).")
                            % {"max": MAX_ATTENTION_CHARS}, max=MAX_ATTENTION_CHARS)
    limit = max(1, min(int(max_tokens), MAX_ATTENTION_TOKENS))
    try:
        result = inference_call(user, "attention", {"model_dir": run_model_dir(run), "text": text,
                                                    "max_tokens": limit})
    except InferenceEngineError as error:
        if error.code == "model_missing":
            raise _missing_model() from None
        raise
    layers = result["layers"]
    return {
        "model": str(run.code),
        "tokens": result["tokens"],
        "n_layer": len(layers),
        "n_head": len(layers[0]) if layers else 0,
        "layers": layers,
        "total_tokens": result["total_tokens"],
        "truncated": result["total_tokens"] > result["shown_tokens"],
        "max_tokens": limit,
    }


# -- my run's loss ---------------------------------------------------------------------

def run_loss_view(user, code=None) -> dict:
    """The loss history of the user's run `code` (or their latest run), with an observation.
    A student without runs sees the demo run's curve, marked as such."""
    run = selectors.run_for_loss_curve(user, code)
    if run is None:
        return {"run": None, "history": [], "observation": None}
    history = [{"step": int(p["step"]), "train_loss": p.get("train_loss"), "val_loss": p.get("val_loss"),
                "val_bpc": p.get("val_bpc"), "lr": p.get("lr")}
               for p in (run.history or []) if p.get("step") is not None]
    observation = loss_observation(history)
    return {
        "run": {"code": str(run.code), "name": run.display_name, "status": run.status,
                "status_label": str(run.get_status_display()), "is_demo": run.is_demo,
                "is_own": run.owner_id == user.pk, "is_instruction": run.is_instruction},
        "history": history,
        "bpc": bpc_summary(history),
        "observation": {**observation, "text": observation_text(observation, instruction=run.is_instruction)},
    }
