"""What the engine is told: the plain TrainConfig of a run (paths, base, stored
hyperparameters, the model card's language) and the log line that says where its steps come from."""
from pathlib import Path

from training import conf
from training.failures import DatasetFileMissing
from training.models import BaseModel, TrainingRun


def plan_description(plan: dict) -> tuple[str, dict] | None:
    """The log line (code, params: training.logtext) saying where the run's number of steps comes from."""
    if not plan.get("steps"):
        return None
    params = {key: plan.get(key) for key in ("steps", "tokens_per_step", "epochs")}
    limited_by = plan.get("limited_by")
    if limited_by not in ("budget", "epoch_cap"):
        return ("plan_epochs" if limited_by == "epochs" else "plan_max_steps"), params
    params.update({key: plan.get(key) for key in ("preset", "budget_seconds", "tokens_per_second")})
    if limited_by == "epoch_cap":
        params.update(max_epochs=plan.get("max_epochs"), budget_steps=plan.get("budget_steps"))
    speed = "measured" if plan.get("calibrated") else "guessed"
    return f"plan_{limited_by}_{speed}", params


MANAGED_CONFIG_KEYS = {"data_path", "output_dir", "base_kind", "base_source", "cache_dir", "offline", "max_bytes",
                       "card_language", "task", "corpus_limits"}


def engine_config(run: TrainingRun, output_dir: Path):
    """Plain values for the engine: paths, the base, and the run's stored hyperparameters."""
    from training.engine import TrainConfig

    if run.dataset is None or not run.dataset.path.exists():
        raise DatasetFileMissing("the dataset file of this run is gone")
    if run.base_run_id:
        base_kind, base_source = "run", str(run.base_run.export_dir)
    elif run.base_model.kind == BaseModel.SCRATCH:
        base_kind, base_source = "scratch", run.base_model.source
    else:
        base_kind, base_source = "pretrained", run.base_model.source
    options = {key: value for key, value in run.hyperparameters.items() if key not in MANAGED_CONFIG_KEYS}
    return TrainConfig(data_path=str(run.dataset.path), output_dir=str(output_dir), base_kind=base_kind,
                       base_source=base_source, task=run.task, cache_dir=str(conf.models_dir()), offline=True,
                       max_bytes=conf.dataset_stored_max_bytes(), corpus_limits=conf.corpus_limits().to_dict(),
                       card_language=card_language((run.dataset.report or {}).get("japanese_share")), **options)


def card_language(japanese_share: float | None) -> str:
    """The model card's language, from the share of Japanese in the run's text: mostly Japanese
    gets a Japanese card, (almost) none an English one, a real mix both."""
    if japanese_share is None:
        return "en"
    if japanese_share > 0.5:
        return "ja"
    return "en" if japanese_share < 0.1 else "both"
