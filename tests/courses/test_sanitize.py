"""Nothing executable gets through the lesson renderer, whoever wrote the Markdown."""
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from courses.markdown import render_markdown, sanitize_html

ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '<a href="javascript:alert(1)">x</a>',
    "![x](javascript:alert(1))",
    '![x](/static/x.png" onerror="alert(1))',
    '{{ lab:tokenizer text="\\" onmouseover=alert(1) x=\\"" }}',
    '{{ lab:tokenizer text="<script>alert(1)</script>" }}',
    "$\\href{javascript:alert(1)}{x}$",
    "$$\\text{<script>alert(1)</script>}$$",
    "<style>body{display:none}</style>",
    "<!-- <script>alert(1)</script> -->",
    '<form action="https://evil.example"><input name=p></form>',
    "```html\n<script>alert(1)</script>\n```",
]

FORBIDDEN_TAGS = {"script", "iframe", "svg", "style", "form", "input", "object", "embed", "link", "meta", "base"}


class ActiveContent(HTMLParser):
    """Collects what a browser would treat as active: tags, event handlers, script URLs."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src", "action") and value is not None:
                scheme = re.sub(r"[\x00-\x20]", "", value).lower()
                if scheme.startswith(("javascript:", "data:", "vbscript:")):
                    self.found.append(f"{tag}[{name}={value}]")


def active_content(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.mark.parametrize("attack", ATTACKS)
def test_markdown_cannot_produce_active_content(attack):
    html = render_markdown(f"Text before.\n\n{attack}\n\nText after.").html
    assert active_content(html) == [], html
    assert "Text after." in html


def test_raw_html_is_shown_as_text():
    html = render_markdown("Use <b>bold</b> and <script>alert(1)</script>").html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("dirty, expected", [
    ("<script>alert(1)</script>ok", "ok"),
    ('<img src="/static/a.png" onerror="alert(1)">', '<img src="/static/a.png">'),
    ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    ('<a href="mailto:a@example.com">x</a>', '<a rel="noopener noreferrer">x</a>'),
    ('<a href="https://example.com/" target="_blank">x</a>', '<a href="https://example.com/" rel="noopener noreferrer">x</a>'),
    ('<div class="lab-embed" data-lab="tokenizer" data-text="t" data-url="/x" style="position:fixed">w</div>',
     '<div class="lab-embed" data-lab="tokenizer" data-text="t">w</div>'),
    ('<div data-lab="keylogger"></div>', "<div></div>"),
    ('<span data-text="x" class="k">x</span>', '<span class="k">x</span>'),
    ('<p id="login-form">x</p><h2 id="intro">t</h2>', '<p>x</p><h2 id="intro">t</h2>'),
    ('<table><tr><td style="background:url(javascript:1)">x</td><td style="text-align:right">y</td></tr></table>',
     '<table><tbody><tr><td>x</td><td style="text-align:right">y</td></tr></tbody></table>'),
    ('<math><mi href="javascript:alert(1)">x</mi></math>', "<math><mi>x</mi></math>"),
    ('<iframe src="/"></iframe><object data="x"></object>ok', "ok"),
])
def test_the_sanitizer_allow_list(dirty, expected):
    assert sanitize_html(dirty) == expected


@pytest.mark.django_db
def test_an_instructors_script_is_harmless_on_the_lesson_page(client, course):
    lesson = course.lessons.first()
    lesson.body_md = "## Hi\n\n<script>alert('xss')</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))"
    lesson.save()
    page = client.get(reverse("courses:lesson", args=[course.slug, lesson.slug])).content.decode()
    body = page.split('<div class="lesson-body">', 1)[1].split('<aside class="card try-it"', 1)[0]
    assert "<p>&lt;script&gt;alert('xss')&lt;/script&gt;</p>" in body
    assert active_content(body) == []
