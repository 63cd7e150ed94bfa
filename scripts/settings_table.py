"""Write README's configuration table from the variables llmschool/settings.py declares.

`python scripts/settings_table.py` rewrites the table between the two markers in README.md;
`--check` only says whether it is up to date (tests/foundation/test_environment.py does
the same in the suite).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

README = ROOT / "README.md"
START = "<!-- settings table: generated from llmschool/settings.py by scripts/settings_table.py -->\n"
END = "<!-- end of settings table -->\n"


def generated_table() -> str:
    import llmschool.settings  # noqa: F401  (reading the settings declares every variable)
    from llmschool.env import markdown_table

    return markdown_table()


def split(text: str) -> tuple[str, str, str]:
    """README as (before the table, the table, after it)."""
    head, rest = text.split(START, 1)
    table, tail = rest.split(END, 1)
    return head + START, table, END + tail


def main(argv: list[str]) -> int:
    head, table, tail = split(README.read_text(encoding="utf-8"))
    fresh = generated_table()
    if table == fresh:
        return 0
    if "--check" in argv:
        print("README.md's settings table is out of date: run python scripts/settings_table.py", file=sys.stderr)
        return 1
    README.write_text(head + fresh + tail, encoding="utf-8")
    print("README.md: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
