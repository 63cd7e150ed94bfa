"""The site's demo model, so that every lesson widget works for a student who has no model yet.

`demo_model_queue()` (the `seed_demo_model` command, which `bootstrap` runs) queues, once, a
quick from-scratch run of the tiny GPT on the shipped sample corpora (the pirate log and the
haiku diary, joined), owned by the system account `conf.DEMO_USERNAME`. When that run
succeeds, the job makes it the demo model (`lifecycle.run_adopt_demo`) unless an instructor
has chosen one meanwhile. Idempotent: nothing is queued while a demo model exists or the demo
run is queued or training; a failed demo run is queued again by the next `bootstrap`.

What the model is, honestly: a GPT-2-shaped network of about a million weights, trained from
scratch for about a minute on some 160 KB of text, so it writes pirate-log English and
haiku-diary Japanese, not general language.
"""
import logging
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction

from training import conf, services
from training.models import BaseModel, Dataset, TrainingRun

log = logging.getLogger(__name__)

CORPORA_DIR = Path(__file__).resolve().parent / "seed" / "corpora"
DEMO_CORPORA = ("en-pirate-log.txt", "ja-haiku-diary.txt")
DEMO_SEED_KEY = "demo:corpus"
DEMO_BASE_KEY = "tiny"


def demo_user():
    """The system account that owns the demo run: it cannot log in. None when a person holds
    that name (signed up before the site was bootstrapped): their runs never become the demo."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=conf.DEMO_USERNAME, defaults={"is_active": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return None if user.has_usable_password() else user


def demo_dataset(owner) -> Dataset:
    """The two sample corpora joined into one text (so the demo knows English and Japanese),
    stored and checked once."""
    dataset = Dataset.objects.filter(seed_key=DEMO_SEED_KEY).first()
    if dataset is not None and dataset.is_usable and dataset.file and dataset.path.exists():
        return dataset
    text = "\n\n".join((CORPORA_DIR / name).read_text(encoding="utf-8").strip() for name in DEMO_CORPORA) + "\n"
    dataset = dataset or Dataset(seed_key=DEMO_SEED_KEY, owner=owner, name="Pirate log + haiku diary (demo model)",
                                 description="The site's sample corpora, joined: the text the demo model learns.",
                                 upload_name="demo-corpus.txt")
    data = text.encode("utf-8")
    dataset.file.save("demo-corpus.txt", ContentFile(data), save=False)
    dataset.size_bytes = len(data)
    services.dataset_check(dataset=dataset)
    dataset.save()
    return dataset


def demo_model_queue(*, force: bool = False) -> str:
    """Queue the demo run unless it is not needed: "disabled" (DEMO_MODEL_SEED off), "exists"
    (there is a demo model), "training" (the demo run is queued or training), "no_base" (no
    tiny from-scratch base), "adopted" (a finished demo run became the demo), or "queued"."""
    if not (force or conf.demo_model_seed()):
        return "disabled"
    if TrainingRun.objects.filter(is_demo=True, status=TrainingRun.SUCCEEDED).exists():
        return "exists"
    user = demo_user()
    if user is None:
        return "no_user"
    runs = TrainingRun.objects.filter(owner=user)
    if runs.filter(status__in=TrainingRun.ACTIVE).exists():
        return "training"
    finished = runs.filter(status=TrainingRun.SUCCEEDED).order_by("-finished_at").first()
    if finished is not None:
        services.training_run_set_demo(run=finished)
        return "adopted"
    base = BaseModel.objects.filter(key=DEMO_BASE_KEY, kind=BaseModel.SCRATCH, enabled=True).first()
    if base is None:
        return "no_base"
    dataset = demo_dataset(user)
    if not dataset.is_usable:
        log.warning("the demo corpus could not be checked: %s %s", dataset.error_code, dataset.error_params)
        return "no_corpus"
    with transaction.atomic():
        services.training_run_create(owner=user, dataset=dataset, base_model=base, preset="quick",
                                     name="Demo model (tiny GPT, pirate log + haiku diary)")
    return "queued"
