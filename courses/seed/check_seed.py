#!/usr/bin/env python3
"""Validate the seeded course: lesson Markdown files and quiz JSON files, both languages.

Plain Python (no Django), so authors can run it while writing:

    .venv/bin/python courses/seed/check_seed.py            # every seed file
    .venv/bin/python courses/seed/check_seed.py 01 03      # only slugs starting with 01 or 03

Lessons live in courses/seed/<lang>/<slug>.md, quizzes in quizzes/seed/<lang>/<slug>.json.
Prints one row per lesson file, then the problems found; exits 1 if any error was found.

Run with the project venv and each body is also rendered by the site's own renderer
(courses/markdown.py, which needs no Django): a formula that latex2mathml cannot convert or a
lab tag the renderer does not recognise is caught here. Without it, math is checked with
markdown-it + latex2mathml directly, and lab tags against a local pattern.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LESSON_DIR = ROOT / "courses" / "seed"
QUIZ_DIR = ROOT / "quizzes" / "seed"
STATIC_DIR = ROOT / "static"
LANGUAGES = ("ja", "en")

# Thresholds from the course issue (about 1,500 Japanese characters / 700 English words of body).
MIN_JA_CHARS = 1500
MIN_EN_WORDS = 700
MIN_QUESTIONS = 6
MIN_CHOICES, MAX_CHOICES = 3, 5
REQUIRED_FRONT_MATTER = ("title", "summary", "minutes")

REFERENCES_HEADING = {"ja": re.compile(r"^##\s+参考文献", re.M), "en": re.compile(r"^##\s+References", re.M)}
SUMMARY_HEADING = {"ja": re.compile(r"^##\s+まとめ", re.M), "en": re.compile(r"^##\s+Summary", re.M)}
SELECT_ALL = {"ja": "（当てはまるものをすべて選択）", "en": "(select all that apply)"}
PRACTICE_LINK = re.compile(r"\]\((/training/|/lab/)[^)]*\)")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")
LAB_TAG_LINE = re.compile(r'^\{\{ lab:(tokenizer|attention|next-token|my-run-loss|chat-template)( [a-z_]+="[^"]*")* \}\}$')
FENCE = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.M | re.S)
FENCE_OPEN = re.compile(r"^```(.*)$", re.M)
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
INLINE_MATH = re.compile(r"\$[^$\n]+\$")
RAW_HTML = re.compile(r"<(/?[A-Za-z][A-Za-z0-9-]*|!--)[\s>/]")
INLINE_CODE = re.compile(r"`[^`\n]+`")
JA_CHAR = re.compile(r"[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
EN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
MARKDOWN_IN_PLAIN_TEXT = re.compile(r"`|\*\*|\$|\[[^\]]*\]\(")


@dataclass
class Row:
    path: Path
    lang: str
    slug: str
    title: str = ""
    minutes: str = ""
    size: str = ""
    refs: bool = False
    practice: bool = False
    summary: bool = False
    lab_tags: int = 0
    math: str = "-"
    quiz: str = "-"
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def split_front_matter(text: str) -> tuple[dict[str, str], str, list[str]]:
    """Return (front matter, body, errors) for a '---' delimited `key: value` header."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text, ["file must start with a '---' front matter line"]
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return {}, text, ["front matter is not closed by a second '---' line"]
    meta, errors = {}, []
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            errors.append(f"front matter line without 'key: value': {line!r}")
            continue
        meta[key.strip()] = value.strip().strip('"').strip("'")
    return meta, "\n".join(lines[end + 1:]), errors


def prose_only(body: str) -> str:
    """Body without code blocks, math and lab tags: what counts as lesson text."""
    text = FENCE.sub(" ", body)
    text = DISPLAY_MATH.sub(" ", text)
    text = INLINE_MATH.sub(" ", text)
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("{{ lab:"))


def math_spans(body: str) -> list[tuple[str, bool]] | None:
    """(latex, is_display) for every math span, parsed as the site parses it; None if unavailable."""
    try:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.dollarmath import dollarmath_plugin
    except ImportError:
        return None
    md = MarkdownIt("commonmark").enable("table").use(dollarmath_plugin, double_inline=True)
    spans = []

    def walk(tokens):
        for tok in tokens:
            if tok.type in ("math_inline", "math_inline_double", "math_block", "math_block_label"):
                spans.append((tok.content, tok.type.startswith("math_block") or tok.type.endswith("double")))
            if tok.children:
                walk(tok.children)

    walk(md.parse(body))
    return spans


def site_renderer():
    """courses.markdown.render_markdown and its lab-tag rules, or None outside the project venv."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from courses import markdown
    except Exception:  # missing packages, or the module does not exist yet
        return None
    return markdown


def check_with_site_renderer(body: str, row: Row, markdown) -> None:
    """Render exactly as the lesson page does and look for what went wrong there."""
    html = markdown.render_markdown(body).html
    errors = re.findall(r'<code class="math-error">(.*?)</code>', html, re.S)
    row.errors += [f"math does not convert on the page: {e[:60]!r}" for e in errors]
    row.math = f"{html.count('<math')}" + (f" ({len(errors)} bad)" if errors else "")
    rendered_labs = html.count('class="lab-embed"')
    if rendered_labs != row.lab_tags:
        row.errors.append(f"{row.lab_tags} lab tags written but {rendered_labs} rendered as widgets "
                          f"(known widgets: {', '.join(sorted(markdown.LAB_WIDGETS))})")


def check_math(body: str, row: Row) -> None:
    spans = math_spans(body)
    if spans is None:
        row.math = "n/a"
        return
    try:
        from latex2mathml.converter import convert
    except ImportError:
        row.math = f"{len(spans)}?"
        return
    bad = 0
    for latex, display in spans:
        try:
            convert(latex, display="block" if display else "inline")
        except Exception as exc:  # latex2mathml raises several exception types
            bad += 1
            row.errors.append(f"math does not convert: {latex[:60]!r} ({type(exc).__name__}: {exc})")
    row.math = f"{len(spans)}" + (f" ({bad} bad)" if bad else "")


def check_lesson(path: Path, lang: str) -> Row:
    row = Row(path=path, lang=lang, slug=path.stem)
    meta, body, fm_errors = split_front_matter(path.read_text(encoding="utf-8"))
    row.errors += fm_errors
    for key in REQUIRED_FRONT_MATTER:
        if not meta.get(key):
            row.errors.append(f"front matter key '{key}' missing or empty")
    for key in meta:
        if key not in REQUIRED_FRONT_MATTER:
            row.warnings.append(f"unknown front matter key '{key}'")
    row.title = meta.get("title", "")
    row.minutes = meta.get("minutes", "")
    if row.minutes and not (row.minutes.isdigit() and int(row.minutes) > 0):
        row.errors.append(f"minutes must be a positive integer, got {row.minutes!r}")

    if re.search(r"^#\s", FENCE.sub("", body), re.M):  # a "# comment" inside a code block is fine
        row.errors.append("body has an H1 heading; the title comes from front matter, start sections with '##'")
    text = prose_only(body)
    if lang == "ja":
        count = len(JA_CHAR.findall(text))
        row.size = f"{count} ja chars"
        if count < MIN_JA_CHARS:
            row.errors.append(f"body has {count} Japanese characters, needs >= {MIN_JA_CHARS}")
    else:
        count = len(EN_WORD.findall(INLINE_CODE.sub(" ", text)))
        row.size = f"{count} words"
        if count < MIN_EN_WORDS:
            row.errors.append(f"body has {count} English words, needs >= {MIN_EN_WORDS}")

    row.refs = bool(REFERENCES_HEADING[lang].search(body))
    if not row.refs:
        row.errors.append(f"no references section ({REFERENCES_HEADING[lang].pattern[1:]})")
    row.summary = bool(SUMMARY_HEADING[lang].search(body))
    if not row.summary:
        row.errors.append(f"no summary section ({SUMMARY_HEADING[lang].pattern[1:]})")
    row.practice = bool(PRACTICE_LINK.search(body))
    if not row.practice:
        row.errors.append("no Markdown link to /training/... or /lab/... (the practice step)")

    for number, line in enumerate(FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), body).splitlines(), 1):
        if "{{" in line and "lab:" in line:
            if LAB_TAG_LINE.match(line.strip()):
                row.lab_tags += 1
            else:
                row.errors.append(f"line {number}: malformed lab tag: {line.strip()!r}")
    for match in FENCE_OPEN.finditer(FENCE.sub("", body)):
        row.errors.append(f"unclosed code fence: {match.group(0)!r}")
    for block in FENCE.findall(body):
        if not block.splitlines()[0][3:].strip():
            row.errors.append("code block without a language tag (use ```python, ```text ...)")
    html = RAW_HTML.search(INLINE_CODE.sub(" ", text))
    if html:
        row.errors.append(f"raw HTML is escaped on the page: {html.group(0)!r}")
    for target in IMAGE_LINK.findall(body):
        if target.startswith("/static/"):
            if not (STATIC_DIR / target[len("/static/"):]).is_file():
                row.errors.append(f"image not found: {target}")
        else:
            row.warnings.append(f"image outside /static/: {target}")
    markdown = site_renderer()
    if markdown is not None:
        check_with_site_renderer(body, row, markdown)
    else:
        check_math(body, row)
    return row


def check_quiz(path: Path, lang: str) -> tuple[str, list[str]]:
    """Return (summary for the table, errors)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return "bad", [f"{path.relative_to(ROOT)}: cannot load: {exc}"]
    errors: list[str] = []
    where = path.relative_to(ROOT)
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        errors.append(f"{where}: 'title' missing")
    mark = data.get("pass_mark")
    if not isinstance(mark, int) or isinstance(mark, bool) or not 1 <= mark <= 100:
        errors.append(f"{where}: 'pass_mark' must be an integer 1-100, got {mark!r}")
    questions = data.get("questions")
    if not isinstance(questions, list):
        return "bad", errors + [f"{where}: 'questions' must be a list"]
    if len(questions) < MIN_QUESTIONS:
        errors.append(f"{where}: {len(questions)} questions, needs >= {MIN_QUESTIONS}")
    kinds = {"single": 0, "multiple": 0}
    for number, q in enumerate(questions, 1):
        label = f"{where} Q{number}"
        text = q.get("text", "")
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{label}: empty text")
        elif MARKDOWN_IN_PLAIN_TEXT.search(text):
            errors.append(f"{label}: question text must be plain text (no Markdown or math)")
        if not str(q.get("explanation", "")).strip():
            errors.append(f"{label}: empty explanation")
        kind = q.get("kind")
        if kind not in kinds:
            errors.append(f"{label}: kind must be 'single' or 'multiple', got {kind!r}")
            continue
        kinds[kind] += 1
        choices = q.get("choices")
        if not isinstance(choices, list) or not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
            errors.append(f"{label}: needs {MIN_CHOICES}-{MAX_CHOICES} choices")
            continue
        texts = [str(c.get("text", "")).strip() for c in choices]
        if not all(texts):
            errors.append(f"{label}: a choice has empty text")
        if len(set(texts)) != len(texts):
            errors.append(f"{label}: duplicate choice texts")
        flags = [c.get("correct") for c in choices]
        if not all(isinstance(f, bool) for f in flags):
            errors.append(f"{label}: every choice needs 'correct': true/false")
            continue
        correct = sum(flags)
        if kind == "single" and correct != 1:
            errors.append(f"{label}: single-choice question has {correct} correct choices, needs exactly 1")
        if kind == "multiple":
            if correct < 1:
                errors.append(f"{label}: multiple-choice question has no correct choice")
            if SELECT_ALL[lang] not in text:
                errors.append(f"{label}: multiple-choice text must say {SELECT_ALL[lang]!r}")
    if kinds["multiple"] < 1:
        errors.append(f"{where}: needs at least one 'multiple' question")
    return f"{len(questions)} ({kinds['single']}s/{kinds['multiple']}m)", errors


def main(argv: list[str]) -> int:
    prefixes = tuple(argv)
    rows: list[Row] = []
    slugs: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        paths = sorted((LESSON_DIR / lang).glob("*.md"))
        slugs[lang] = {p.stem for p in paths}
        for path in paths:
            if prefixes and not path.stem.startswith(prefixes):
                continue
            row = check_lesson(path, lang)
            quiz_path = QUIZ_DIR / lang / f"{path.stem}.json"
            if quiz_path.is_file():
                row.quiz, quiz_errors = check_quiz(quiz_path, lang)
                row.errors += quiz_errors
            else:
                row.errors.append(f"no quiz file {quiz_path.relative_to(ROOT)}")
            rows.append(row)

    problems: list[str] = []
    for lang, other in (("ja", "en"), ("en", "ja")):
        for slug in sorted(slugs[lang] - slugs[other]):
            if not prefixes or slug.startswith(prefixes):
                problems.append(f"ERROR {lang}/{slug}.md has no {other} counterpart")
        for quiz in sorted((QUIZ_DIR / lang).glob("*.json")):
            if quiz.stem not in slugs[lang] and (not prefixes or quiz.stem.startswith(prefixes)):
                problems.append(f"ERROR {quiz.relative_to(ROOT)} has no lesson")

    header = ("lang", "slug", "title", "min", "body", "refs", "summary", "practice", "lab", "math", "quiz", "status")
    table = [header] + [
        (
            r.lang, r.slug, r.title[:28], r.minutes, r.size,
            "yes" if r.refs else "NO", "yes" if r.summary else "NO", "yes" if r.practice else "NO",
            str(r.lab_tags), r.math, r.quiz, "ok" if not r.errors else f"{len(r.errors)} err",
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for number, line in enumerate(table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))
        if number == 0:
            print("  ".join("-" * width for width in widths))

    for r in rows:
        where = r.path.relative_to(ROOT)
        problems += [f"ERROR {where}: {e}" for e in r.errors]
        problems += [f"warn  {where}: {w}" for w in r.warnings]
    if not rows:
        problems.append("ERROR no lesson files found under courses/seed/<lang>/")
    if problems:
        print()
        print("\n".join(problems))
    failed = any(p.startswith("ERROR") for p in problems)
    print(f"\n{len(rows)} lesson files checked: {'FAILED' if failed else 'all ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
