"""Read-side helpers other apps use (the training helper fills these in)."""


def latest_runs_for_user(user, limit=5) -> list:
    return []


def lab_models_for_user(user) -> list:
    """The user's succeeded runs plus the site's demo run."""
    return []
