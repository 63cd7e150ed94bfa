"""The learning lab: the /lab/ page and the JSON APIs that static/js/lab.js calls, on the
lab page and inside lessons (the `{{ lab:... }}` tags of courses/markdown.py).

Every API answers GET only, for logged-in users, with JSON even when it refuses:
{"error": {"code": "...", "message": "...", "params": {...}}}. Models are looked up with
the owner-scoped selectors, so another student's run is a 404 like a missing one.
"""
import logging
import math
import uuid
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from training import lab, selectors
from training.engine import EngineError

logger = logging.getLogger(__name__)

SAMPLE_TEXTS = {
    "ja": {"tokenizer": "東京メトロに乗って、猫カフェへ行く。", "next_token": "昔々、あるところに",
           "attention": "猫がマットの上に座った"},
    "en": {"tokenizer": "Tokyo Metro: 東京メトロ", "next_token": "Once upon a time",
           "attention": "The cat sat on the mat"},
}


@login_required
def index(request):
    runs = lab.lab_runs(request.user)
    selected = request.GET.get("model", "")
    if selected not in {str(run.code) for run in runs}:
        selected = str(runs[0].code) if runs else ""
    return render(request, "training/lab.html", {
        "runs": runs,
        "has_own_run": any(run.owner_id == request.user.pk for run in runs),
        "selected": selected,
        "samples": SAMPLE_TEXTS.get(get_language(), SAMPLE_TEXTS["en"]),
        "new_run_url": new_run_url(),
        "lab_strings": lab_strings(),
    })


def new_run_url() -> str:
    return reverse("training:run_new") + "?preset=quick"


# -- JSON APIs ---------------------------------------------------------------------------

def _error(status: int, code: str, message: str, params: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "params": params or {}}}, status=status)


def lab_api(view):
    """GET only, logged in, and every refusal as JSON (a redirect to the login page would
    reach lab.js as HTML)."""
    @never_cache
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "GET":
            return _error(405, "method_not_allowed", _("Only GET requests are accepted."))
        if not request.user.is_authenticated:
            return _error(401, "login_required", _("Log in to use the lab."))
        try:
            return JsonResponse(view(request, *args, **kwargs))
        except lab.LabInputError as error:
            return _error(error.status, error.code, error.message, error.params)
        except Http404:
            return _error(404, "not_found", _("No such model."))
        except EngineError as error:
            logger.warning("lab %s failed: %s", request.path, error)
            return _error(500, getattr(error, "code", "engine_error") or "engine_error",
                          _("The model could not answer. Try again, or pick another model."))
    return wrapper


def _run_param(request, *, required: bool):
    """The run named by ?model=<code> (owner-scoped); without one, the user's default model."""
    code = request.GET.get("model", "").strip()
    if code:
        try:
            code = uuid.UUID(code)
        except ValueError:
            raise Http404("Bad model code") from None
        return selectors.run_for_lab(request.user, code)
    if not required:
        return None
    runs = lab.lab_runs(request.user)
    if not runs:
        raise lab.LabInputError("no_model", _("You have no model yet. Train one in a few minutes."), status=404,
                                new_run_url=new_run_url())
    return runs[0]


def _number(request, name: str, *, default, low, high, kind=float, blank=None):
    raw = request.GET.get(name, "").strip()
    if raw == "":
        return default if blank is None else blank
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        raise lab.LabInputError("bad_value", _("%(name)s must be a number from %(low)s to %(high)s.")
                                % {"name": name, "low": low, "high": high}, name=name, low=low, high=high)
    return value


def _picked_ids(request) -> list[int]:
    raw = request.GET.get("ids", "").strip()
    if not raw:
        return []
    parts = raw.split(",")
    if len(parts) > lab.MAX_PICKED_TOKENS:
        raise lab.LabInputError("too_many_picks", _("You picked too many tokens (at most %(max)s). Start again.")
                                % {"max": lab.MAX_PICKED_TOKENS}, max=lab.MAX_PICKED_TOKENS)
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise lab.LabInputError("bad_token", _("A picked token does not belong to this model's vocabulary.")) from None


@lab_api
def api_models(request):
    return {**lab.lab_models(request.user), "new_run_url": new_run_url()}


@lab_api
def api_tokenize(request):
    run = _run_param(request, required=False)
    return lab.tokenize_compare(request.GET.get("text", ""), run)


@lab_api
def api_next_token(request):
    run = _run_param(request, required=True)
    top_k = _number(request, "top_k", default=None, low=0, high=100_000, kind=int)
    top_p = _number(request, "top_p", default=None, low=0.01, high=1.0)
    return lab.next_token_view(
        run, request.GET.get("prompt", ""), picked=_picked_ids(request),
        temperature=_number(request, "temperature", default=1.0, low=0.0, high=lab.MAX_TEMPERATURE),
        top_k=top_k or None, top_p=top_p,
        k=_number(request, "k", default=10, low=1, high=lab.MAX_CANDIDATES, kind=int),
        seed=_number(request, "seed", default=0, low=0, high=2**31 - 1, kind=int),
    )


@lab_api
def api_attention(request):
    run = _run_param(request, required=True)
    max_tokens = _number(request, "max_tokens", default=lab.DEFAULT_ATTENTION_TOKENS, low=1,
                         high=lab.MAX_ATTENTION_TOKENS, kind=int)
    return lab.attention_view(run, request.GET.get("text", ""), max_tokens=max_tokens)


@lab_api
def api_my_run_loss(request):
    code = request.GET.get("run", "").strip()
    if code:
        try:
            code = uuid.UUID(code)
        except ValueError:
            raise Http404("Bad run code") from None
    data = lab.run_loss_view(request.user, code or None)
    if data["run"] and data["run"]["is_own"]:
        data["run"]["url"] = reverse("training:run_detail", args=[data["run"]["code"]])
    return {**data, "new_run_url": new_run_url()}


# -- strings for lab.js -----------------------------------------------------------------

def lab_strings() -> dict:
    """URLs and translated UI strings for static/js/lab.js, rendered as a json_script blob
    (templates/lab/strings.html; the lesson page renders the same blob)."""
    return {
        "urls": {
            "models": reverse("lab:api_models"), "tokenize": reverse("lab:api_tokenize"),
            "next_token": reverse("lab:api_next_token"), "attention": reverse("lab:api_attention"),
            "my_run_loss": reverse("lab:api_my_run_loss"), "lab": reverse("lab:index"),
            "login": reverse("login"), "new_run": new_run_url(),
        },
        "limits": {"tokenize": lab.MAX_TOKENIZE_CHARS, "prompt": lab.MAX_PROMPT_CHARS,
                   "attention": lab.MAX_ATTENTION_CHARS, "picks": lab.MAX_PICKED_TOKENS},
        "text": _widget_texts(),
    }


def _widget_texts() -> dict:
    return {
        # shared
        "lab": _("Lab"),
        "model": _("Model"),
        "demo": _("site demo"),
        "yours": _("your model"),
        "error": _("The lab could not answer. Try again."),
        "login_required": _("Log in to try this explorer with a real model."),
        "log_in": _("Log in"),
        "no_model": _("You have no model yet. Train one in a few minutes (quick preset), then come back."),
        "train_quick": _("Train a quick model"),
        "open_lab": _("Open in the Lab"),
        # tokenizer
        "tok_title": _("Tokenizer explorer"),
        "tok_input": _("Text to split into tokens"),
        "tok_summary": _("{chars} characters · {bytes} bytes in UTF-8 · {bpc} bytes per character"),
        "tok_gpt2": _("GPT-2 tokenizer"),
        "tok_run": _("This model's tokenizer: {name}"),
        "tok_vocab": _("vocabulary of {vocab} tokens"),
        "tok_count": _("{count} tokens"),
        "tok_ratio": _("{tpc} tokens per character · {cpt} characters per token"),
        "tok_partial": _("{partial} tokens hold only part of a character"),
        "tok_same": _("This model was fine-tuned from GPT-2, so it splits text exactly like GPT-2."),
        "tok_token_title": _("token id {id} · {len} bytes: {bytes}"),
        "tok_partial_title": _("part of a character"),
        "tok_no_run": _("Pick or train a model to compare its own tokenizer with GPT-2's."),
        "why_title": _("Why does Japanese cost more tokens?"),
        "why_bytes": _("A byte-level tokenizer works on UTF-8 bytes. A letter of English is 1 byte; a kana "
                       "or kanji is 3 bytes. This text uses {bpc} bytes per character."),
        "why_gpt2": _("GPT-2 learned its merges mostly from English web pages, so it has few tokens for "
                      "Japanese byte sequences: here it needs {tpc} tokens per character, and {partial} of its "
                      "{count} tokens are fragments of a character."),
        "why_run": _("A tokenizer trained on the model's own corpus learns merges for the characters it saw "
                     "often: for the same text, {name} needs {tpc} tokens per character."),
        "why_cost": _("More tokens mean a shorter context for the same text and more computation per "
                      "sentence: the model reads, and pays for, tokens, not characters."),
        # next token
        "nt_title": _("Next-token explorer"),
        "nt_prompt": _("Prompt"),
        "nt_temperature": _("Temperature"),
        "nt_top_k": _("Top-k (0 = off)"),
        "nt_top_p": _("Top-p (1 = off)"),
        "nt_text": _("Text so far"),
        "nt_candidates": _("The most likely next tokens"),
        "nt_pick": _("Pick"),
        "nt_pick_label": _("Pick “{token}”"),
        "nt_sample": _("Let chance decide"),
        "nt_undo": _("Undo"),
        "nt_reset": _("Start again"),
        "nt_raw": _("before settings: {p}"),
        "nt_kept": _("{kept} of {vocab} tokens remain possible after top-k and top-p"),
        "nt_greedy": _("Temperature 0: the most likely token always wins (greedy decoding)."),
        "nt_truncated": _("The text is longer than the model's context: only the last {n} tokens are read."),
        "nt_too_many": _("You have picked the maximum number of tokens. Start again to continue."),
        "nt_help": _("Bars show the probability of each candidate after temperature, top-k and top-p; the "
                     "grey figure is the model's own probability. Pick a token to append it and step on."),
        # attention
        "att_title": _("Attention view"),
        "att_input": _("Short text"),
        "att_layer": _("Layer"),
        "att_head": _("Head"),
        "att_heads": _("All heads of this layer"),
        "att_rows": _("Each row is a token; the colour shows how much it attends to itself and to each earlier token."),
        "att_mask": _("masked: a token cannot look at tokens after it (causal mask)"),
        "att_scale": _("attention weight"),
        "att_cell": _("“{from}” → “{to}”: {w}"),
        "att_truncated": _("Only the first {n} tokens are shown."),
        # my run's loss
        "loss_title": _("Your run's loss curve"),
        "loss_run": _("Run: {name} ({status})"),
        "loss_demo": _("You have no run with a loss curve yet, so this is the site demo model's curve."),
        "loss_train": _("training loss"),
        "loss_val": _("validation loss"),
        "loss_bpc": _("Bits per character on held-out text: {first} at the first evaluation, {last} at the latest."),
        "loss_step": _("step"),
        "loss_best": _("lowest validation loss"),
        "loss_none": _("No loss curve yet: train a model and its curve appears here."),
    }
