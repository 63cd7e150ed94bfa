"""Training pages: thin function-based views over training.services and training.selectors.

Every lookup is owner-scoped: another user's dataset, run, progress, playground or
download answers 404 (instructors may download any archive).
"""
import logging
from itertools import zip_longest

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from training import conf, selectors, services
from training.charts import history_series, loss_chart
from training.downloads import archive_response
from training.forms import ChatForm, CompareForm, DatasetUploadForm, PlaygroundForm, RunForm
from training.inference import InferenceError, inference_call
from training.loss_reading import loss_observation
from training.logtext import lines_text
from training.models import Dataset, TrainingRun
from training.reasons import dataset_error_message, run_failure, run_stop_reason

log = logging.getLogger(__name__)


# Runs list --------------------------------------------------------------------------------

@login_required
def run_list(request):
    runs = TrainingRun.objects.filter(owner=request.user).select_related("dataset", "base_model", "base_run")
    return render(request, "training/runs.html", {
        "runs": runs,
        "has_active": any(run.is_active for run in runs),
        "succeeded": [run for run in runs if run.status == TrainingRun.SUCCEEDED],
        "storage": selectors.storage_usage(request.user),
    })


# Datasets ---------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request):
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_create(owner=request.user, uploaded_file=form.cleaned_data["file"],
                                              name=form.cleaned_data["name"],
                                              keep_notation=form.cleaned_data["keep_notation"],
                                              kind=form.cleaned_data.get("kind") or "")
        except services.DatasetRejected as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(request, _("Dataset uploaded. It is being checked now; this page shows the result "
                                        "when it is ready."))
            return redirect("training:dataset_detail", code=dataset.code)
    return render(request, "training/datasets.html", {
        "form": form,
        **_own_datasets_context(request.user),
        "samples": Dataset.objects.filter(is_sample=True, published=True, error_code="",
                                          check_status=Dataset.READY),
        "max_bytes": conf.dataset_max_bytes(),
        "storage": selectors.storage_usage(request.user),
    }, status=400 if request.method == "POST" else 200)


def _own_datasets_context(user) -> dict:
    own = list(Dataset.objects.filter(owner=user))
    return {"own": own, "any_checking": any(dataset.is_checking for dataset in own)}


@login_required
@require_GET
def dataset_table(request):
    """The polling endpoint of the list: the student's datasets, while one is being checked."""
    return render(request, "training/includes/dataset_table.html", _own_datasets_context(request.user))


def _dataset_status_context(dataset: Dataset) -> dict:
    return {
        "dataset": dataset,
        "error": dataset_error_message(dataset.error_code, dataset.error_params) if dataset.error_code else "",
        "can_recheck": dataset.check_status == Dataset.FAILED and dataset.error_code in services.RECHECKABLE,
    }


@login_required
def dataset_detail(request, code):
    dataset = selectors.dataset_for_user(request.user, code)
    estimates = services.dataset_epoch_estimates(dataset=dataset) if dataset.is_usable else []
    reclean = dataset.reclean_error or {}
    return render(request, "training/dataset_detail.html", {
        **_dataset_status_context(dataset),
        "report": dataset.report,
        "estimates": estimates,
        "reclean_error": dataset_error_message(reclean["code"], reclean.get("params")) if reclean else "",
        "runs": dataset.runs.filter(owner=request.user)[:10],
        "is_owner": dataset.owner_id == request.user.pk,
        "many_duplicates": _many_duplicates(dataset.report or {}),
        "preparation": dataset.preparation or {},
        "notation": dataset.notation,
        # A run takes a block that holds the longest conversation, up to this many tokens.
        "longest_block": services.INSTRUCTION_BLOCK_SIZES[-1],
    })


@login_required
@require_GET
def dataset_status(request, code):
    """The polling endpoint of a dataset being checked: a fragment for htmx (the page reloads
    once the check is done), JSON for anything asking for it."""
    dataset = selectors.dataset_for_user(request.user, code)
    if request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"code": str(dataset.code), "status": dataset.check_status, "phase": dataset.check_phase,
                             "usable": dataset.is_usable, "error_code": dataset.error_code})
    if request.htmx and request.GET.get("live") and not dataset.is_checking:
        return HttpResponseClientRefresh()
    return render(request, "training/includes/dataset_status.html", _dataset_status_context(dataset))


@login_required
@require_POST
def dataset_recheck(request, code):
    dataset = selectors.dataset_for_user(request.user, code, include_samples=False)
    try:
        services.dataset_recheck(dataset=dataset)
    except (services.DatasetRejected, services.RunRefused) as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, _("The dataset is being checked again."))
    return redirect("training:dataset_detail", code=dataset.code)


@login_required
@require_POST
def dataset_notation(request, code):
    """Remove or keep the Aozora Bunko notation: the kept original upload is prepared again."""
    dataset = selectors.dataset_for_user(request.user, code, include_samples=False)
    keep = request.POST.get("keep_notation") == "1"
    try:
        services.dataset_reclean(dataset=dataset, keep_notation=keep)
    except services.DatasetRejected as exc:
        messages.error(request, exc.message)
    except services.RunRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, _("The text is being prepared again, keeping the notation.") if keep
                      else _("The text is being prepared again, without the notation."))
    return redirect("training:dataset_detail", code=dataset.code)


def _many_duplicates(report: dict) -> bool:
    """More than one line in twenty repeats another. An instruction dataset's duplicates are counted
    on its conversations as the chat template writes them (a line a message): weighed against its
    messages, not against its file's lines (a conversation each)."""
    lines = (report.get("instructions") or {}).get("turns") or report.get("lines") or 1
    return (report.get("duplicate_lines") or 0) > 0.05 * lines


@login_required
@require_POST
def dataset_delete(request, code):
    dataset = selectors.dataset_for_user(request.user, code, include_samples=False)
    try:
        services.dataset_delete(dataset=dataset)
    except services.RunRefused as exc:
        messages.error(request, exc.message)
        return redirect("training:dataset_detail", code=dataset.code)
    messages.success(request, _("Dataset deleted."))
    return redirect("training:datasets")


# New run ----------------------------------------------------------------------------------

def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _estimate(form) -> dict:
    """Plan the run the form describes: estimate and budget, or the reason it is refused."""
    if not form.is_valid():
        dataset = form.cleaned_data.get("dataset")
        return {"errors": [f"{form.fields[name].label}: {error}" if name in form.fields else error
                           for name, errors in form.errors.items() for error in errors],
                "instruction": bool(dataset and dataset.is_instruction)}
    instruction = form.cleaned_data["dataset"].is_instruction
    base_model, base_run = form.base_model_and_run()
    try:
        plan = services.run_plan(owner=form.user, dataset=form.cleaned_data["dataset"], base_model=base_model,
                                 base_run=base_run, preset=form.cleaned_data["preset"], options=form.options())
    except ValidationError as exc:
        return {"errors": exc.messages, "instruction": instruction}
    return {"plan": plan, "hyperparameters": plan["hyperparameters"], "instruction": instruction,
            "instruction_from_scratch": instruction and base_model is not None and base_model.is_scratch}


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request):
    if request.method == "POST":
        form = RunForm(request.POST, user=request.user)
        if form.is_valid():
            base_model, base_run = form.base_model_and_run()
            try:
                run = services.training_run_create(
                    owner=request.user, dataset=form.cleaned_data["dataset"], base_model=base_model,
                    base_run=base_run, preset=form.cleaned_data["preset"], options=form.options(),
                    name=form.cleaned_data["name"])
            except ValidationError as exc:
                _apply_errors(form, exc)
            except services.RunRefused as exc:
                form.add_error(None, exc.message)
            else:
                if getattr(run, "enqueued", True) is False:
                    messages.warning(request, _(
                        "Your run is saved, but the training queue is not reachable right now. "
                        "It will start automatically as soon as the queue is back; you do not need to submit it again."))
                else:
                    messages.success(request, _("Your run is queued."))
                return redirect("training:run_detail", code=run.code)
        estimate = _estimate(form)
        form.use_task_wording(estimate.get("instruction", False))
        status = 400
    else:
        presets = dict(RunForm.PRESET_CHOICES)
        preset = request.GET.get("preset") if request.GET.get("preset") in presets else "quick"
        form = RunForm(initial={"preset": preset}, user=request.user)
        dataset = request.GET.get("dataset") if request.GET.get("dataset") in form.datasets else None
        base = request.GET.get("base") if request.GET.get("base") in form.bases else None
        form.initial["dataset"] = dataset or next(iter(form.datasets), None)
        form.initial["base"] = base or next(iter(form.bases), None)
        data = {key: form.initial[key] for key in ("dataset", "base", "preset")}
        estimate = _estimate(RunForm(data, user=request.user)) if all(data.values()) else {}
        form.use_task_wording(estimate.get("instruction", False))
        status = 200
    return render(request, "training/run_new.html", {
        "form": form,
        "estimate": estimate,
        "missing_bases": form.missing_bases,
        "has_datasets": bool(form.datasets),
        "unusable_notes": [services.dataset_unusable_message(d) for d in form.unusable.values() if d.is_checking],
        "active_count": TrainingRun.objects.filter(owner=request.user, status__in=TrainingRun.ACTIVE).count(),
        "email_unverified": services.email_unverified(request.user),
    }, status=status)


@login_required
@require_GET
def run_estimate(request):
    form = RunForm(request.GET, user=request.user)
    estimate = _estimate(form)
    form.use_task_wording(estimate.get("instruction", False))
    # The fragment also brings the form's help worded for the dataset chosen (htmx out-of-band swaps).
    return render(request, "training/includes/run_estimate.html", {
        "estimate": estimate, "task_wording": True, "task_helps": form.task_worded_help()})


# One run ----------------------------------------------------------------------------------

def _progress_context(run: TrainingRun) -> dict:
    metrics = run.metrics or {}
    chart = loss_chart(history_series(run.history), reference=metrics.get("base_val_loss"))
    title, advice = run_failure(run.error_code) if run.status == TrainingRun.FAILED else ("", "")
    stop_reason = run_stop_reason(run) if run.status == TrainingRun.SUCCEEDED else ""
    return {
        "run": run,
        "chart": chart,
        "queue_position": run.queue_position(),
        "failure_title": title,
        "failure_advice": advice,
        "log_lines": lines_text(run.log_lines[-40:], instruction=run.is_instruction),
        "waiting_for_queue": run.status == TrainingRun.QUEUED and not run.rq_job_id,
        "overfitting_warning": _still_overfitting(run),
        "val_bpc": latest_bpc(run),
        "stop_reason": stop_reason,
        "preset_label": dict(RunForm.PRESET_CHOICES).get(run.preset, run.preset),
    }


def latest_bpc(run: TrainingRun) -> float | None:
    """Bits per character of the latest evaluation (the exported model's once finished)."""
    metrics = run.metrics or {}
    if run.status == TrainingRun.SUCCEEDED and metrics.get("val_bpc") is not None:
        return metrics["val_bpc"]
    points = [p["val_bpc"] for p in run.history or [] if p.get("val_bpc") is not None]
    return points[-1] if points else None


def _still_overfitting(run: TrainingRun) -> bool:
    """The engine's flag stays set once validation loss rose; a curve that fell again to a new best
    (a wobble, then recovery) no longer overfits, so the warning follows the curve as it is now."""
    return bool(run.overfitting) and loss_observation(run.history or [])["code"] == "overfitting"


@login_required
def run_detail(request, code):
    run = selectors.run_for_owner(request.user, code)
    context = _progress_context(run)
    if run.status == TrainingRun.SUCCEEDED and run.is_instruction:
        context["chat_form"] = ChatForm(context_tokens=_context_tokens(run))
    elif run.status == TrainingRun.SUCCEEDED:
        context["playground_form"] = PlaygroundForm(initial={"prompt": _default_prompt(run)},
                                                    context_tokens=_context_tokens(run))
    return render(request, "training/run_detail.html", context)


def _context_tokens(run: TrainingRun) -> int:
    return services.base_block_size_limit(base_model=None, base_run=run)


def _default_prompt(run: TrainingRun) -> str:
    """The sample prompt in the language of the run's text (the engine samples one Japanese and
    one English prompt for every run; an English diary should not open on 昔々、ある村に)."""
    prompts = [sample["prompt"] for sample in run.samples or [] if sample.get("prompt")]
    share = ((run.metrics or {}).get("data") or {}).get("japanese_share")
    if share is None and run.dataset_id and run.dataset:
        share = (run.dataset.report or {}).get("japanese_share")
    if share is not None:
        for prompt in prompts:
            if any("\u3040" <= char <= "\u9fff" for char in prompt) == (share >= 0.5):  # kana or kanji
                return prompt
    return prompts[0] if prompts else ""


def progress_json(run: TrainingRun) -> dict:
    return {
        "code": str(run.code), "status": run.status, "attempt": run.attempt, "step": run.step,
        "total_steps": run.total_steps, "percent": run.progress_percent, "epoch": run.epoch,
        "train_loss": run.train_loss, "val_loss": run.val_loss, "learning_rate": run.learning_rate,
        "tokens_per_second": run.tokens_per_second, "eta_seconds": run.eta_seconds,
        "queue_position": run.queue_position(), "overfitting": run.overfitting,
        "checkpoint_step": run.checkpoint_step, "error_code": run.error_code,
        "log_lines": lines_text(run.log_lines[-20:], instruction=run.is_instruction),
        "history_points": len(run.history or []), "val_bpc": latest_bpc(run),
    }


@login_required
@require_GET
def run_progress(request, code):
    """The polling endpoint: an HTML fragment for htmx, JSON for anything asking for it."""
    run = selectors.run_for_owner(request.user, code)
    if request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(progress_json(run))
    if request.htmx and request.GET.get("live") and run.is_finished:
        # The run ended while the page was open: reload it to show the results.
        return HttpResponseClientRefresh()
    return render(request, "training/includes/run_progress.html", _progress_context(run))


@login_required
@require_POST
def run_cancel(request, code):
    run = selectors.run_for_owner(request.user, code)
    if services.training_run_cancel(run=run):
        if run.status == TrainingRun.CANCELLED:
            messages.success(request, _("The run was cancelled."))
        else:
            messages.info(request, _("Stopping the run; this takes a few seconds."))
    else:
        messages.info(request, _("This run has already finished."))
    return redirect("training:run_detail", code=run.code)


@login_required
@require_POST
def run_playground(request, code):
    run = selectors.run_for_owner(request.user, code)
    if run.status != TrainingRun.SUCCEEDED or run.export_dir is None:
        raise Http404("No model to play with")
    if run.is_instruction:
        return _chat(request, run)
    form = PlaygroundForm(request.POST, context_tokens=_context_tokens(run))
    context = {"run": run, "playground_form": form}
    status = 200 if form.is_valid() else 400
    if form.is_valid():
        generated, status = _generate(request.user, run, form.cleaned_data)
        context.update(generated)
    template = "training/includes/playground_result.html" if request.htmx else "training/run_detail.html"
    if not request.htmx:
        context.update(_progress_context(run))
        context["playground_form"] = form
    # htmx swaps only 2xx answers into #playground-result: field errors and "busy" must come
    # back as 200 there, or the student sees nothing (and django-htmx's debug handler blanks the page).
    return render(request, template, context, status=200 if request.htmx else status)


def _chat(request, run: TrainingRun):
    """The chat playground: the conversation so far comes back with the post (bounded by the
    form), the answer is added, and the page (or, with htmx, the chat panel) shows it all."""
    import json
    import secrets

    form = ChatForm(request.POST, context_tokens=_context_tokens(run))
    context = {"run": run, "chat_form": form, "chat_history": []}
    refused_status = None
    if form.is_valid():
        data = form.cleaned_data
        seed = data["seed"] if data.get("seed") is not None else secrets.randbelow(2**31)
        sampling = {"max_new_tokens": data["max_new_tokens"], "temperature": data["temperature"],
                    "top_k": data["top_k"], "top_p": data["top_p"]}
        try:
            answer = services.playground_chat(user=request.user, run=run, history=data["history"],
                                              message=data["message"], system=data.get("system") or "",
                                              sampling=sampling, seed=seed)
        except InferenceError as exc:
            log.warning("chat playground for run %s: %s", run.code, exc.code)
            context["chat_history"] = data["history"]
            over_limits = exc.status in (429, 503)
            context["generation_error"] = (exc.message if over_limits
                                           else _("The model could not answer right now. Please try again."))
            if over_limits and not request.htmx:
                refused_status = exc.status
        else:
            context.update(chat_history=answer["history"], seed=seed, cut_short=answer["cut_short"])
            # A fresh form: the message box empties, the settings and the conversation stay.
            values = {key: data.get(key) for key in ("system", "temperature", "top_k", "top_p", "max_new_tokens")}
            form = ChatForm(initial={**values, "seed": data.get("seed"),
                                     "history": json.dumps(answer["history"], ensure_ascii=False)},
                            context_tokens=_context_tokens(run))
            context["chat_form"] = form
    elif "history" not in form.errors:
        context["chat_history"] = form.cleaned_data.get("history") or []
    template = "training/includes/playground_chat.html" if request.htmx else "training/run_detail.html"
    if not request.htmx:
        context.update(_progress_context(run))
    # As in the text playground: htmx swaps only 2xx answers, so its errors come back as 200.
    status = 400 if form.is_bound and form.errors and not request.htmx else 200
    status = refused_status or status
    return render(request, template, context, status=status)


def _generate(user, run: TrainingRun, data: dict) -> tuple[dict, int]:
    """Generate on an inference worker: the text, or a message for the form and the page's
    status (429 over the student's limits, 503 busy)."""
    import secrets

    # A fresh seed unless the student gives one; shown with the text so it can be reproduced.
    seed = data["seed"] if data.get("seed") is not None else secrets.randbelow(2**31)
    try:
        answer = inference_call(user, "generate", {
            "model_dir": str(run.export_dir), "prompt": data["prompt"], "max_new_tokens": data["max_new_tokens"],
            "temperature": data["temperature"], "top_k": data["top_k"], "top_p": data["top_p"], "seed": seed})
    except InferenceError as exc:
        log.warning("playground for run %s: %s", run.code, exc.code)
        if exc.status in (429, 503):
            return {"generation_error": exc.message}, exc.status
        # The page itself is fine: it shows the message in the form, as it always did.
        return {"generation_error": _("The model could not generate text right now. Please try again.")}, 200
    return {"generated": answer["text"], "prompt": data["prompt"], "seed": seed,
            "cut_short": answer.get("cut_short", False)}, 200


@login_required
def run_download(request, code):
    """The owner's archive; instructors may fetch any (others get 404, no bytes)."""
    query = TrainingRun.objects.filter(code=code)
    if not request.user.is_instructor:
        query = query.filter(owner=request.user)
    run = query.first()
    if run is None or run.archive_path is None or not run.archive_path.is_file():
        raise Http404("No archive")
    try:
        return archive_response(request, run.archive_path, run.archive_name)
    except FileNotFoundError:  # deleted since the check above
        raise Http404("No archive") from None


@login_required
@require_POST
def run_delete(request, code):
    run = selectors.run_for_owner(request.user, code)
    try:
        services.training_run_delete(run=run)
    except services.RunRefused as exc:
        messages.error(request, exc.message)
        return redirect("training:run_detail", code=run.code)
    messages.success(request, _("The run and its files were deleted."))
    return redirect("training:runs")


@login_required
@require_GET
def compare(request):
    runs = TrainingRun.objects.filter(owner=request.user).exclude(status__in=TrainingRun.ACTIVE).select_related("dataset")
    form = CompareForm(request.GET if request.GET.get("a") and request.GET.get("b") else None)
    codes = [str(run.code) for run in runs[:2]]
    selected_a = request.GET.get("a") or (codes[0] if codes else "")
    selected_b = request.GET.get("b") or next((c for c in codes if c != selected_a), "")
    context = {"runs": runs, "form": form, "selected_a": selected_a, "selected_b": selected_b}
    if form.is_valid():
        a = selectors.run_for_owner(request.user, form.cleaned_data["a"])
        b = selectors.run_for_owner(request.user, form.cleaned_data["b"])
        series = history_series(a.history, prefix="a-") + history_series(b.history, prefix="b-")
        keys = sorted(set(a.hyperparameters) | set(b.hyperparameters))
        samples = _paired_samples(a, b)
        context.update({
            "a": a, "b": b,
            "chart": loss_chart(series),
            "hyperparameters": [(key, a.hyperparameters.get(key), b.hyperparameters.get(key)) for key in keys
                                if key != "sample_prompts"],
            "samples": samples,
            "same_prompts": not any("prompt_b" in sample for sample in samples),
            "different_datasets": a.dataset_id != b.dataset_id,
        })
    return render(request, "training/compare.html", context)


def _paired_samples(a: TrainingRun, b: TrainingRun) -> list:
    """A's samples next to B's for the same prompt; when the runs share no prompt (prompts come
    from each run's own text), each run's samples in order, each with its own prompt."""
    by_prompt = {s.get("prompt"): s for s in b.samples or []}
    if any(s.get("prompt") in by_prompt for s in a.samples or []):
        return [{"prompt": s.get("prompt"), "a": s.get("tuned"),
                 "b": (by_prompt.get(s.get("prompt")) or {}).get("tuned")} for s in a.samples or []]
    pairs = zip_longest(a.samples or [], b.samples or [], fillvalue={})
    return [{"prompt": sa.get("prompt"), "a": sa.get("tuned"), "prompt_b": sb.get("prompt"), "b": sb.get("tuned")}
            for sa, sb in pairs]
