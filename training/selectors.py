"""Read-side helpers other apps use (dashboard, lab) and the training views share."""
from django.db.models import Q
from django.http import Http404

from training import conf
from training.models import Dataset, TrainingRun


def latest_runs_for_user(user, limit=5) -> list:
    if not getattr(user, "is_authenticated", False):
        return []
    return list(TrainingRun.objects.filter(owner=user).select_related("dataset", "base_model", "base_run")[:limit])


def lab_models_for_user(user) -> list:
    """The user's succeeded runs plus the site's demo run (demo first)."""
    runs = TrainingRun.objects.filter(status=TrainingRun.SUCCEEDED).select_related("base_model", "dataset")
    if getattr(user, "is_authenticated", False):
        runs = runs.filter(Q(owner=user) | Q(is_demo=True))
    else:
        runs = runs.filter(is_demo=True)
    return sorted(runs, key=lambda run: (not run.is_demo, -run.created_at.timestamp()))


def run_for_lab(user, code):
    """A succeeded run the user may use in the lab: their own, or the demo run; else Http404."""
    query = Q(is_demo=True)
    if getattr(user, "is_authenticated", False):
        query |= Q(owner=user)
    run = TrainingRun.objects.filter(query, code=code, status=TrainingRun.SUCCEEDED).first()
    if run is None:
        raise Http404("No such model")
    return run


def run_for_loss_curve(user, code=None):
    """The run whose loss curve the lab shows: the user's run `code` in any state (a running
    one has a curve too), or the demo run (else Http404); without a code, the user's latest run
    that has a curve, else the demo run, else None."""
    own = TrainingRun.objects.filter(owner=user) if getattr(user, "is_authenticated", False) else None
    if code:
        run = own.filter(code=code).first() if own is not None else None
        return run or run_for_lab(user, code)
    latest = own.exclude(history=[]).order_by("-created_at", "-id").first() if own is not None else None
    return latest or demo_run()


def latest_succeeded_run(user):
    if not getattr(user, "is_authenticated", False):
        return None
    return TrainingRun.objects.filter(owner=user, status=TrainingRun.SUCCEEDED).first()


def demo_run():
    return TrainingRun.objects.filter(is_demo=True, status=TrainingRun.SUCCEEDED).first()


def demo_in_training() -> dict | None:
    """While the site has no demo model but its demo run (seed_demo_model) is queued or
    training: {"status", "minutes"}, about how long until it is ready (the runs ahead of it in
    the queue included); else None."""
    import math

    if demo_run() is not None:
        return None
    run = TrainingRun.objects.filter(owner__username=conf.DEMO_USERNAME, status__in=TrainingRun.ACTIVE).first()
    if run is None:
        return None
    ahead = TrainingRun.objects.filter(status__in=TrainingRun.ACTIVE, pk__lt=run.pk) if run.status == run.QUEUED \
        else TrainingRun.objects.none()
    seconds = sum(_seconds_left(other) for other in ahead) + _seconds_left(run)
    return {"status": run.status, "minutes": max(1, math.ceil(seconds / 60))}


def _seconds_left(run: TrainingRun) -> float:
    """The job's own estimate while it trains, else the plan's, plus a little for loading and saving."""
    estimate = run.eta_seconds if run.eta_seconds is not None else (run.plan or {}).get("estimate_seconds")
    return float(estimate or 60) + 20


def run_for_owner(user, code) -> TrainingRun:
    """Owner-scoped lookup: another user's run is a 404, never a 403 that confirms it exists."""
    run = TrainingRun.objects.select_related("dataset", "base_model", "base_run").filter(owner=user, code=code).first()
    if run is None:
        raise Http404("No such run")
    return run


def dataset_for_user(user, code, *, include_samples=True) -> Dataset:
    query = Q(owner=user)
    if include_samples:
        query |= Q(is_sample=True, published=True)
    dataset = Dataset.objects.filter(query, code=code).first()
    if dataset is None:
        raise Http404("No such dataset")
    return dataset


def storage_usage(user):
    """The user's bytes on disk (datasets and runs) against their quota: training.storage.Usage."""
    from training.storage import usage_for

    return usage_for(user)
