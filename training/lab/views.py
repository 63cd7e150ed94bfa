"""The learning lab: the /lab/ page and the JSON APIs that static/js/lab.js calls, on the
lab page and inside lessons (the `{{ lab:... }}` tags of courses/markdown.py).

The APIs answer logged-in users only, with JSON even when they refuse:
{"error": {"code": "...", "message": "...", "params": {...}}}. Those that send text
(tokenize, next-token, attention, chat-template) take POST with the page's CSRF token (a long Japanese text
would pass the web server's limit on a GET URL); the others take GET. Models are looked up
with the owner-scoped selectors, so another student's run is a 404 like a missing one. The
model work runs on an inference worker: a busy queue is a 503, a student over the limits a
429 (training/inference.py).
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

from training import selectors
from training.inference import InferenceError
from training.lab import services as lab
from training.lab.strings import new_run_url

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
    return render(request, "lab/index.html", {
        "runs": runs,
        "has_own_run": any(run.owner_id == request.user.pk for run in runs),
        "demo_training": None if runs else selectors.demo_in_training(),
        "demo": next((run for run in runs if run.is_demo), None),
        "selected": selected,
        "samples": SAMPLE_TEXTS.get(get_language(), SAMPLE_TEXTS["en"]),
        "new_run_url": new_run_url(),
    })


# -- JSON APIs ---------------------------------------------------------------------------

def _error(status: int, code: str, message: str, params: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "params": params or {}}}, status=status)


def lab_api(view=None, *, method="GET"):
    """`method` only, logged in, and every refusal as JSON (a redirect to the login page or an
    HTML error page would reach lab.js as HTML)."""
    if view is None:
        return lambda view: lab_api(view, method=method)

    @never_cache
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != method:
            return _error(405, "method_not_allowed", _("Only %(method)s requests are accepted.") % {"method": method})
        if not request.user.is_authenticated:
            return _error(401, "login_required", _("Log in to use the lab."))
        try:
            return JsonResponse(view(request, *args, **kwargs))
        except lab.LabInputError as error:
            return _error(error.status, error.code, error.message, error.params)
        except Http404:
            return _error(404, "not_found", _("No such model."))
        except InferenceError as error:
            if error.status >= 500:
                logger.warning("lab %s: %s (%s)", request.path, error.code, error.message)
            params = {"limit": error.params["limit"]} if "limit" in error.params else {}
            return _error(error.status, error.code, error.message, params)
        except Exception:  # any other failure is still an answer lab.js can show
            logger.exception("lab %s failed", request.path)
            return _error(500, "lab_error", _("The model could not answer. Try again, or pick another model."))
    return wrapper


def _params(request):
    return request.POST if request.method == "POST" else request.GET


def _code_param(request, name: str) -> uuid.UUID | None:
    """The run code in ?<name>=; a malformed one is a 404 like an unknown one."""
    code = _params(request).get(name, "").strip()
    if not code:
        return None
    try:
        return uuid.UUID(code)
    except ValueError:
        raise Http404(f"Bad {name} code") from None


def _run_param(request, *, required: bool):
    """The run named by ?model=<code> (owner-scoped); without one, the user's default model."""
    code = _code_param(request, "model")
    if code:
        return selectors.run_for_lab(request.user, code)
    if not required:
        return None
    runs = lab.lab_runs(request.user)
    if not runs:
        pending = selectors.demo_in_training()
        message = (_("The site's demo model is still training: it is ready in about %(minutes)s min.")
                   % {"minutes": pending["minutes"]} if pending else
                   _("You have no model yet. Train one in a few minutes."))
        raise lab.LabInputError("no_model", message, status=404, new_run_url=new_run_url(), demo_training=pending)
    return runs[0]


def _number(request, name: str, *, default, low, high, kind=float, blank=None):
    raw = _params(request).get(name, "").strip()
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
    raw = _params(request).get("ids", "").strip()
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


@lab_api(method="POST")
def api_tokenize(request):
    run = _run_param(request, required=False)
    return lab.tokenize_compare(request.user, request.POST.get("text", ""), run)


@lab_api(method="POST")
def api_next_token(request):
    run = _run_param(request, required=True)
    top_k = _number(request, "top_k", default=None, low=0, high=100_000, kind=int)
    top_p = _number(request, "top_p", default=None, low=0.01, high=1.0)
    return lab.next_token_view(
        request.user, run, request.POST.get("prompt", ""), picked=_picked_ids(request),
        temperature=_number(request, "temperature", default=1.0, low=0.0, high=lab.MAX_TEMPERATURE),
        top_k=top_k or None, top_p=top_p,
        k=_number(request, "k", default=10, low=1, high=lab.MAX_CANDIDATES, kind=int),
        seed=_number(request, "seed", default=0, low=0, high=2**31 - 1, kind=int),
    )


@lab_api(method="POST")
def api_attention(request):
    run = _run_param(request, required=True)
    max_tokens = _number(request, "max_tokens", default=lab.DEFAULT_ATTENTION_TOKENS, low=1,
                         high=lab.MAX_ATTENTION_TOKENS, kind=int)
    return lab.attention_view(request.user, run, request.POST.get("text", ""), max_tokens=max_tokens)


@lab_api
def api_my_run_loss(request):
    data = lab.run_loss_view(request.user, _code_param(request, "run"))
    if data["run"] and data["run"]["is_own"]:
        data["run"]["url"] = reverse("training:run_detail", args=[data["run"]["code"]])
    return {**data, "new_run_url": new_run_url()}


@lab_api(method="POST")
def api_chat_template(request):
    run = _run_param(request, required=False)
    return lab.chat_template_view(*(request.POST.get(role, "") for role in lab.CHAT_ROLES), run=run)
