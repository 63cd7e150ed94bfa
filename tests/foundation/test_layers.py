"""Dependencies point one way: a static check of every `import` in the site's source.

The site reads from the top down:

    urls, workers, commands  ->  views, admin, forms, tags  ->  services, selectors
        ->  lifecycle, jobs, queueing  ->  models, settings readers, pure helpers  ->  engine

and the apps stack the same way: courses <- quizzes; training <- the lab; the project package
(llmschool: settings, urls, the dashboard) may read them all. The rules, checked on every
module outside migrations, lazy imports inside functions included:

1. App direction (APP_MAY_IMPORT): courses imports no other app; quizzes may import courses;
   training imports neither courses nor quizzes nor the lab; the lab (training/lab/) imports
   from training only `training.selectors` (owner-scoped run lookup), `training.loss_reading`
   and `training.inference` (the queue to the inference workers); the accounts app imports no
   other app; the apps never import the project package (llmschool), which may import them all.
2. The engine (training/engine/) imports no Django and nothing of the site outside itself
   (tests/engine/test_no_django.py checks the same at run time).
3. Outside the engine, code uses only the engine's public API: `training.engine` itself (the
   names its __init__ exports), never one of its modules.
4. Layers (ROLES, RANK): a module never imports one of a higher layer, in its own app or
   another: models do not import services, selectors or views; services and selectors do not
   import views, forms, admin or tags; lifecycle and jobs do not import services or selectors.
   Modules of the same layer may import each other, except:
5. selectors (reads) never import services (writes).

A new module needs a role in ROLES (the test says so), which is where its layer is decided.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("courses", "quizzes", "training", "llmschool")
SKIPPED_DIRS = {"migrations"}

# Longest prefix first: the app a module belongs to.
APPS = ("training.engine", "training.lab", "training", "courses", "quizzes", "llmschool.accounts", "llmschool")
EVERY_APP = set(APPS)
APP_MAY_IMPORT = {
    "courses": {"courses"},
    "quizzes": {"quizzes", "courses"},
    "training": {"training", "training.engine"},
    "training.lab": {"training.lab", "training.engine"},
    "training.engine": {"training.engine"},
    "llmschool.accounts": {"llmschool.accounts"},
    "llmschool": EVERY_APP,
}
# Single modules an app may import from an app it otherwise may not.
MODULE_EXCEPTIONS = {
    "training.lab": {"training.selectors", "training.loss_reading", "training.inference"},
}

ENTRY, PRESENTATION, API, RUNS, DATA, ENGINE = 5, 4, 3, 2, 1, 0
ROLES = {
    # entry points: routing, processes, app configs, settings
    "urls": ENTRY, "apps": ENTRY, "worker": ENTRY, "settings": ENTRY, "test_settings": ENTRY,
    "wsgi": ENTRY, "asgi": ENTRY,
    # what a request sees: views, admin, forms, template tags, page helpers
    "views": PRESENTATION, "admin": PRESENTATION, "forms": PRESENTATION, "context_processors": PRESENTATION,
    "middleware": PRESENTATION, "dashboard": PRESENTATION, "strings": PRESENTATION,
    "downloads": PRESENTATION,
    # reads and writes on behalf of a page or a command
    "services": API, "selectors": API, "seeding": API, "roles": API, "demo": API,
    # a training run's life: transitions, jobs, the queue, the reconciler
    "lifecycle": RUNS, "jobs": RUNS, "queueing": RUNS, "reconciler": RUNS, "calibration": RUNS,
    "progress": RUNS, "run_config": RUNS, "attempts": RUNS, "hooks": RUNS, "failures": RUNS,
    "storage": RUNS,
    # inference: the web side (limits, queue, wait) and the worker's tasks
    "inference": RUNS, "inference_tasks": RUNS,
    "dataset_check": RUNS,
    # rows, settings readers and pure helpers
    "models": DATA, "conf": DATA, "env": DATA, "health": DATA, "devservices": DATA, "markdown": DATA,
    "reasons": DATA, "priority": DATA, "logtext": DATA, "charts": DATA, "loss_reading": DATA, "__init__": DATA,
}
# Folders whose modules all play one role: commands and scripts are entry points, tags present.
FOLDER_ROLES = {"management": ENTRY, "seed": ENTRY, "templatetags": PRESENTATION}
LAYER_NAMES = {ENTRY: "entry point", PRESENTATION: "view layer", API: "services/selectors", RUNS: "lifecycle/jobs",
               DATA: "models/helpers", ENGINE: "engine"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
                found[module_name(path)] = path
    return found


MODULES = source_modules()


def app_of(module: str) -> str | None:
    return next((app for app in APPS if module == app or module.startswith(app + ".")), None)


def rank_of(module: str, path: Path | None = None) -> int | None:
    if app_of(module) == "training.engine":
        return ENGINE
    if path is not None and path.name == "__init__.py":
        return DATA
    inner = module.split(".")
    for folder, rank in FOLDER_ROLES.items():
        if folder in inner[:-1]:
            return rank
    return ROLES.get(inner[-1])


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) for every import, resolved to the longest known module name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[:len(here) - (node.level - 1)]
                base = ".".join(here + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in MODULES else base, node.lineno))
    return found


def violations(module: str, source: str, *, path: Path | None = None) -> list[str]:
    app, rank = app_of(module), rank_of(module, path)
    problems = []
    for target, line in imports_of(module, source, is_package=path is not None and path.name == "__init__.py"):
        where = f"{module}:{line} imports {target}"
        if target == "django" or target.startswith("django."):
            if app == "training.engine":
                problems.append(f"{where}: the engine never imports Django")
            continue
        target_app = app_of(target)
        if target_app is None:
            continue  # the standard library or a third-party package
        if target_app not in APP_MAY_IMPORT[app] and target not in MODULE_EXCEPTIONS.get(app, ()):
            problems.append(f"{where}: {app} may import only {sorted(APP_MAY_IMPORT[app])}"
                            f"{' and ' + str(sorted(MODULE_EXCEPTIONS[app])) if app in MODULE_EXCEPTIONS else ''}")
            continue
        if target_app == "training.engine" and app != "training.engine" and target != "training.engine":
            problems.append(f"{where}: use the engine's public API (from training.engine import ...)")
            continue
        target_rank = rank_of(target, MODULES.get(target))
        if rank is not None and target_rank is not None and target_rank > rank:
            problems.append(f"{where}: a {LAYER_NAMES[rank]} module imports the {LAYER_NAMES[target_rank]}")
        elif module.split(".")[-1] == "selectors" and target.split(".")[-1] == "services":
            problems.append(f"{where}: selectors only read; they never import services")
    return problems


def test_every_module_has_a_layer():
    unknown = sorted(module for module, path in MODULES.items() if rank_of(module, path) is None)
    assert not unknown, f"give these modules a role in ROLES (tests/foundation/test_layers.py): {unknown}"


def test_dependencies_point_one_way():
    problems = [problem for module, path in MODULES.items()
                for problem in violations(module, path.read_text(encoding="utf-8"), path=path)]
    assert not problems, "upward imports:\n" + "\n".join(problems)


@pytest.mark.parametrize("module, source", [
    ("courses.views", "from quizzes.selectors import quiz_status_for_user"),
    ("courses.views", "def f():\n    from training import lab\n"),  # lazy imports count too
    ("quizzes.services", "import training.models"),
    ("training.views", "from training.lab.services import token_rows"),
    ("training.lab.services", "from training.services import create_run"),
    ("training.lab.services", "from training.engine.inference import load_model"),
    ("training.forms", "from training.engine.sampling import MAX_NEW_TOKENS"),
    ("training.engine.trainer", "from django.conf import settings"),
    ("training.engine.trainer", "from training import models"),
    ("training.models", "from training.services import start_run"),
    ("training.selectors", "from training import services"),
    ("training.services", "from training.views import run_detail"),
    ("training.lifecycle", "from training.services import cancel_run"),
    ("courses.models", "from courses import views"),
    ("courses.services", "from llmschool import dashboard"),
])
def test_an_upward_import_is_caught(module, source):
    assert violations(module, source)


@pytest.mark.parametrize("module, source", [
    ("quizzes.views", "from courses.models import Lesson"),
    ("training.lab.services", "from training.engine import next_token_distribution\nfrom training import selectors"),
    ("training.services", "from training.engine import check_dataset\nfrom training import models, queueing"),
    ("training.jobs", "from training import lifecycle, models"),
    ("llmschool.dashboard", "from quizzes.selectors import quiz_status_for_user"),
    ("training.engine.inference", "from .tokenization import load_tokenizer"),
])
def test_a_downward_import_passes(module, source):
    assert violations(module, source) == []
