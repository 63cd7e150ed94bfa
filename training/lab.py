"""The learning lab: which models a student may open, and the views of a model that the
explorers draw (tokens, next-token probabilities, attention, the loss curve).

lab_views.py parses and caps the request, calls these functions and returns their dicts
as JSON. The engine does the tensor work; this module adds what the lessons need around
it (byte and character spans, raw versus filtered probabilities, a reading of the loss).
"""
import json
import math
import threading
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from training import selectors
from training.models import TrainingRun

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

# transformers resolves its names lazily, and that is not thread-safe: when a lesson's two
# widgets ask the threaded web server for their first tokens at the same moment, one request
# fails with "cannot import name 'AutoTokenizer' from 'transformers'". Resolve the names the
# engine uses once, one thread at a time, before any inference in the web process.
_TRANSFORMERS_NAMES = ("AutoTokenizer", "GPT2TokenizerFast", "AutoModelForCausalLM", "GenerationConfig")
_transformers_lock = threading.Lock()
_transformers_ready = False


def prepare_transformers() -> None:
    global _transformers_ready
    if _transformers_ready:
        return
    with _transformers_lock:
        if not _transformers_ready:
            import transformers

            for name in _TRANSFORMERS_NAMES:
                getattr(transformers, name)
            _transformers_ready = True


def _configure_inference() -> None:
    # The engine keeps loaded models in an LRU; the lab is its main user in the web
    # process, so the operator's LAB_MAX_LOADED_MODELS bounds it.
    import torch

    from training.engine import inference

    prepare_transformers()
    inference.MODEL_CACHE_SIZE = max(1, int(getattr(settings, "LAB_MAX_LOADED_MODELS", 4)))
    # One intra-op thread per request: small models gain nothing from more, and on a busy
    # 2-core machine competing OpenMP threads turn 10 ms forwards into 400 ms ones
    # (bench/lab_latency.py --threads 2 shows it). 0 leaves torch's default.
    threads = int(getattr(settings, "LAB_TORCH_THREADS", 1))
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def lab_runs(user) -> list[TrainingRun]:
    """The user's succeeded runs (newest first), then the site's demo run."""
    runs = selectors.lab_models_for_user(user)
    own = sorted((r for r in runs if r.owner_id == user.pk), key=lambda r: r.created_at, reverse=True)
    return own + [r for r in runs if r.owner_id != user.pk]


def run_model_dir(run: TrainingRun) -> str:
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


def run_summary(run: TrainingRun, user) -> dict:
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
    return {"models": models, "default": models[0]["code"] if models else None}


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
    from training.engine import tokenize_view

    prepare_transformers()
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
    from training.engine.tokenization import load_tokenizer

    rows = token_rows(tokenizer_dir, text)
    chars = len(text)
    return {
        "key": key,
        "vocab_size": len(load_tokenizer(tokenizer_dir)),
        "count": len(rows),
        "tokens_per_char": round(len(rows) / chars, 3) if chars else 0.0,
        "chars_per_token": round(chars / len(rows), 3) if rows else 0.0,
        "partial_tokens": sum(1 for row in rows if row["partial"]),
        "tokens": rows,
    }


def _is_japanese(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xFF00 <= code <= 0xFFEF


def tokenize_compare(text: str, run: TrainingRun | None = None) -> dict:
    """The text under the real GPT-2 tokenizer and, with a run, under the run's own tokenizer."""
    from training.engine import gpt2_tokenizer_dir

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

def _token_piece(tokenizer, token_id: int) -> dict:
    """How to show one token: its text, and its raw bytes when it holds part of a character."""
    from training.engine.tokenization import token_bytes

    pieces = token_bytes(tokenizer, [token_id])
    text = tokenizer.decode([token_id])
    if not pieces:
        return {"text": text, "bytes": text.encode("utf-8").hex(" "), "partial": False}
    try:
        return {"text": pieces[0].decode("utf-8"), "bytes": pieces[0].hex(" "), "partial": False}
    except UnicodeDecodeError:
        return {"text": "", "bytes": pieces[0].hex(" "), "partial": True}


def next_token_view(run: TrainingRun, prompt: str, *, picked: list[int] = (), temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, k: int = 10, seed: int = 0) -> dict:
    """The most likely next tokens after the prompt plus the tokens picked so far.

    Picks are token ids, not text: a byte-level token may be half a character, which would
    not survive a round trip through text. `sampled` is what sampling would choose now."""
    import torch

    from training.engine import load_model

    if len(prompt) > MAX_PROMPT_CHARS:
        raise LabInputError("too_long", _("The prompt is too long (at most %(max)s characters).")
                            % {"max": MAX_PROMPT_CHARS}, max=MAX_PROMPT_CHARS)
    if len(picked) > MAX_PICKED_TOKENS:
        raise LabInputError("too_many_picks", _("You picked too many tokens (at most %(max)s). Start again.")
                            % {"max": MAX_PICKED_TOKENS}, max=MAX_PICKED_TOKENS)
    loaded = load_model(run_model_dir(run))
    model, tokenizer = loaded.model, loaded.tokenizer
    vocab = model.config.vocab_size
    if any(not 0 <= token_id < vocab for token_id in picked):
        raise LabInputError("bad_token", _("A picked token does not belong to this model's vocabulary."))
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    ids = prompt_ids + list(picked)
    context = ids[-model.config.n_positions:] or [tokenizer.eos_token_id]
    with loaded.lock, torch.no_grad():
        logits = model(input_ids=torch.tensor([context])).logits[0, -1].float()
    raw = torch.softmax(logits, dim=-1)
    from training.engine.inference import filtered_probabilities

    probabilities = filtered_probabilities(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    values, order = torch.topk(probabilities, max(1, min(k, MAX_CANDIDATES, vocab)))
    generator = torch.Generator().manual_seed(int(seed))
    sampled = int(torch.multinomial(probabilities, 1, generator=generator))
    candidates = [{"token_id": int(i), **_token_piece(tokenizer, int(i)), "probability": round(float(p), 6),
                   "raw_probability": round(float(raw[int(i)]), 6)}
                  for p, i in zip(values, order) if float(p) > 0 or int(i) == int(order[0])]
    text, prompt_text = tokenizer.decode(ids), tokenizer.decode(prompt_ids)
    return {
        "model": str(run.code),
        "text": text,
        # What the picks added; decoded together, so that two half-character picks show one character.
        "continuation": text[len(prompt_text):] if text.startswith(prompt_text) else tokenizer.decode(list(picked)),
        "prompt_tokens": len(prompt_ids),
        "context_tokens": len(context),
        "truncated": len(ids) > len(context),
        "picked": [{"token_id": token_id, **_token_piece(tokenizer, token_id)} for token_id in picked],
        "settings": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "k": k},
        "candidates": candidates,
        "kept_tokens": int((probabilities > 0).sum()),
        "vocab_size": vocab,
        "sampled": {"token_id": sampled, **_token_piece(tokenizer, sampled),
                    "probability": round(float(probabilities[sampled]), 6)},
    }


# -- attention view --------------------------------------------------------------------

def attention_view(run: TrainingRun, text: str, *, max_tokens: int = DEFAULT_ATTENTION_TOKENS) -> dict:
    """Attention weights of every head in every layer; matrix[i][j] is how much token i looks
    at token j. Above the diagonal the causal mask makes every weight zero."""
    from training.engine import attention_weights, load_model

    if len(text) > MAX_ATTENTION_CHARS:
        raise LabInputError("too_long", _("The text is too long (at most %(max)s characters).")
                            % {"max": MAX_ATTENTION_CHARS}, max=MAX_ATTENTION_CHARS)
    model_dir = run_model_dir(run)
    limit = max(1, min(int(max_tokens), MAX_ATTENTION_TOKENS))
    tokenizer = load_model(model_dir).tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    result = attention_weights(model_dir, text, max_tokens=limit)
    shown = ids[:len(result["tokens"])] if ids else []
    labels = _attention_labels(model_dir, tokenizer, text, shown) or [
        {"text": t, "bytes": "", "partial": False} for t in result["tokens"]]
    layers = result["layers"]
    return {
        "model": str(run.code),
        "tokens": labels,
        "n_layer": len(layers),
        "n_head": len(layers[0]) if layers else 0,
        "layers": layers,
        "total_tokens": len(ids),
        "truncated": len(ids) > len(result["tokens"]),
        "max_tokens": limit,
    }


def _attention_labels(model_dir: str, tokenizer, text: str, ids: list[int]) -> list[dict]:
    """Row and column labels: the characters each token touches (a half character shows the
    whole character, marked partial), as in the tokenizer explorer."""
    rows = token_rows(model_dir, text)[:len(ids)]
    if [row["id"] for row in rows] != ids:  # not the same split (should not happen): label by token alone
        return [_token_piece(tokenizer, token_id) for token_id in ids]
    return [{"text": row["text"], "bytes": row["bytes"], "partial": row["partial"]} for row in rows]


# -- my run's loss ---------------------------------------------------------------------

def _points(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(p["step"]), float(p[key])) for p in history
            if p.get(key) is not None and math.isfinite(float(p[key]))]


FLAT_POINTS = 3  # a plateau is this many evaluations in a row within the tolerance


def loss_observation(history: list[dict]) -> dict:
    """What a teacher would say about a loss curve: {"code", "params"}.

    overfitting: validation loss rose after its best step while training loss kept falling;
    unstable: both rose; still_falling: the latest evaluation still improved (train longer);
    plateau: the last FLAT_POINTS evaluations are flat; levelling_off: the last one did not
    improve, but too few are flat to call it a plateau; too_few_points: fewer than two."""
    train, val = _points(history, "train_loss"), _points(history, "val_loss")
    if len(val) < 2:
        return {"code": "too_few_points", "params": {"points": len(val)}}
    best_step, best = min(val, key=lambda point: (point[1], point[0]))
    last_step, last = val[-1]
    tolerance = max(0.01, 0.01 * abs(best))
    if best_step != last_step and last - best > tolerance:
        before = [loss for step, loss in train if step <= best_step]
        train_at_best = before[-1] if before else (train[0][1] if train else None)
        train_fell = train_at_best is not None and train[-1][1] < train_at_best - tolerance / 2
        code = "overfitting" if train_fell else "unstable"
        return {"code": code, "params": {"step": best_step, "best": round(best, 3), "last": round(last, 3),
                                         "last_step": last_step}}
    if val[-2][1] - last > tolerance / 2:
        return {"code": "still_falling", "params": {"from": round(val[0][1], 3), "last": round(last, 3),
                                                    "last_step": last_step}}
    recent = [loss for _, loss in val[-FLAT_POINTS:]]
    if len(recent) == FLAT_POINTS and max(recent) - min(recent) <= tolerance:
        return {"code": "plateau", "params": {"last": round(last, 3), "last_step": last_step,
                                              "points": FLAT_POINTS}}
    return {"code": "levelling_off", "params": {"last": round(last, 3), "last_step": last_step}}


def observation_text(observation: dict) -> str:
    params = observation["params"]
    texts = {
        "too_few_points": _("Too few validation points to judge yet: train for more steps and look again."),
        "overfitting": _("Validation loss rose after step %(step)s (from %(best)s to %(last)s) while training "
                         "loss kept falling: the model started to memorise its training text (overfitting). "
                         "The checkpoint from step %(step)s would generalise best."),
        "unstable": _("Both losses rose after step %(step)s: training became unstable. A lower learning rate "
                      "would probably help."),
        "still_falling": _("Validation loss was still falling at the end (from %(from)s to %(last)s): train "
                           "longer. More steps will probably make the model better."),
        "plateau": _("Validation loss has been flat for the last %(points)s evaluations, at %(last)s: more steps "
                     "alone will not help much. More text or a larger model might."),
        "levelling_off": _("Validation loss did not improve at the last evaluation (%(last)s): it may be levelling "
                           "off. Training a little longer would show whether it has reached a plateau."),
    }
    return texts[observation["code"]] % params


def bpc_summary(history: list[dict]) -> dict | None:
    """Bits per character of held-out text at the first and the latest evaluation."""
    points = _points(history, "val_bpc")
    if not points:
        return None
    return {"first": round(points[0][1], 3), "last": round(points[-1][1], 3),
            "best": round(min(loss for _, loss in points), 3)}


def _loss_run(user, code) -> TrainingRun | None:
    """The user's run `code` in any state (a running one has a curve too), or the demo run;
    without a code, their latest run that has a curve, else the demo run."""
    if code:
        own = TrainingRun.objects.filter(owner=user, code=code).first()
        return own or selectors.run_for_lab(user, code)
    latest = TrainingRun.objects.filter(owner=user).exclude(history=[]).order_by("-created_at", "-id").first()
    return latest or selectors.demo_run()


def run_loss_view(user, code=None) -> dict:
    """The loss history of the user's run `code` (or their latest run), with an observation.
    A student without runs sees the demo run's curve, marked as such."""
    run = _loss_run(user, code)
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
