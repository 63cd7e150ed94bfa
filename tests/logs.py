"""Reading a run's log in tests: lines are {"t", "code", "params"} (training/logtext.py)."""


def logged(run, code: str, **params) -> bool:
    """Whether the run's log has a line with this code and (at least) these parameters."""
    return any(isinstance(line, dict) and line.get("code") == code
               and all((line.get("params") or {}).get(key) == value for key, value in params.items())
               for line in run.log_lines)


def codes(run) -> list[str]:
    return [line["code"] for line in run.log_lines if isinstance(line, dict)]
