"""Every environment variable llmschool reads, declared once, read once and checked at start.

llmschool/settings.py reads each variable through one of the helpers below, with its default
and what it means. A helper turns a bad value into ImproperlyConfigured naming the variable
and the form it expects, so `manage.py check`, the web server and every worker stop at start
instead of a job failing mid-run. Each call also records the variable in VARIABLES, from which
README's configuration table is generated (scripts/settings_table.py; a test keeps the two
equal). Variables read by something else (a library, the launcher) are recorded with `listed`
so that the table names them too.

Code reads the values from django.conf.settings (training/conf.py for the training knobs),
never from os.environ, so that override_settings works and each default lives only here.
"""
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # as README shows it (Markdown)
    meaning: str  # Markdown


VARIABLES: dict[str, Variable] = {}


def _declare(name: str, default, meaning: str, shown: str | None) -> str | None:
    """Record the variable (once; settings may be imported again by a test) and return its raw value."""
    VARIABLES[name] = Variable(name, shown if shown is not None else _shown(default), meaning)
    return os.environ.get(name)


def _shown(default) -> str:
    if default is None or default == "" or default == [] or default == {}:
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    if isinstance(default, list):
        return "`" + ",".join(default) + "`"
    if isinstance(default, dict):
        return f"`{json.dumps(default)}`"
    return f"`{default}`"


def _bad(name: str, expected: str, raw: str):
    return ImproperlyConfigured(f"{name} must be {expected}, not {raw!r}")


def _range_words(kind: str, minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{kind} of at least {minimum}"
    if maximum is not None:
        return f"{kind} of at most {maximum}"
    return kind


def envbool(name: str, default: bool, meaning: str, *, shown: str | None = None) -> bool:
    raw = _declare(name, default, meaning, shown)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise _bad(name, "true or false", raw)


def _number(name: str, raw: str, parse, kind: str, minimum, maximum):
    """`raw` parsed as a finite number within minimum..maximum, or an error saying which form is expected."""
    expected = _range_words(kind, minimum, maximum)
    try:
        value = parse(raw)
    except ValueError:
        raise _bad(name, expected, raw) from None
    if not math.isfinite(value) or (minimum is not None and value < minimum) \
            or (maximum is not None and value > maximum):
        raise _bad(name, expected, raw)
    return value


def envint(name: str, default: int, meaning: str, *, minimum: int | None = None, maximum: int | None = None,
           shown: str | None = None) -> int:
    raw = _declare(name, default, meaning, shown)
    if raw is None or raw.strip() == "":
        return default
    return _number(name, raw, int, "an integer", minimum, maximum)


def envfloat(name: str, default: float, meaning: str, *, minimum: float | None = None,
             maximum: float | None = None, shown: str | None = None) -> float:
    """A number such as `1.5` (seconds, mostly)."""
    raw = _declare(name, default, meaning, shown)
    if raw is None or raw.strip() == "":
        return default
    return _number(name, raw, float, "a number", minimum, maximum)


def envlist(name: str, default: list[str], meaning: str, *, shown: str | None = None) -> list[str]:
    """Comma-separated values; blanks around and between commas are dropped."""
    raw = _declare(name, default, meaning, shown)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envstr(name: str, default: str, meaning: str, *, choices: tuple[str, ...] = (),
           prefixes: tuple[str, ...] = (), shown: str | None = None) -> str:
    """Text; empty means the default. `choices` or `prefixes` (e.g. URL schemes) restrict it."""
    raw = _declare(name, default, meaning, shown)
    value = raw or default
    if raw and choices and value not in choices:
        raise _bad(name, "one of " + ", ".join(choices), raw)
    if raw and prefixes and not value.startswith(prefixes):
        raise _bad(name, "a value starting with " + " or ".join(prefixes), raw)
    return value


def envpath(name: str, default: Path | None, meaning: str, *, shown: str | None = None) -> Path | None:
    """A directory or file path; empty means the default (None: the caller derives one at use)."""
    raw = _declare(name, default, meaning, shown)
    if raw:
        return Path(raw).expanduser()
    return default


def envjson(name: str, default: dict, meaning: str, *, shown: str | None = None) -> dict:
    """A JSON object such as `{"num_threads": 2}`."""
    raw = _declare(name, default, meaning, shown)
    if raw is None or raw.strip() == "":
        return dict(default)
    try:
        value = json.loads(raw)
    except ValueError:
        raise _bad(name, 'a JSON object such as {"num_threads": 2}', raw) from None
    if not isinstance(value, dict):
        raise _bad(name, 'a JSON object such as {"num_threads": 2}', raw)
    return value


def listed(name: str, default: str, meaning: str) -> None:
    """A variable read by something other than settings (a library, the launcher), named here
    so that the README table is complete; `default` and `meaning` are Markdown."""
    VARIABLES[name] = Variable(name, default, meaning)


def markdown_table() -> str:
    """README's configuration table: one row per variable, in the order settings.py reads them."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in VARIABLES.values()]
    return "\n".join(rows) + "\n"
