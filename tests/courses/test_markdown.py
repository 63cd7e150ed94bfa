"""Lesson Markdown rendering: headings and table of contents, code, tables, math, figures, lab tags."""
from pathlib import Path

import pytest

from courses.markdown import RENDERER_VERSION, pygments_css, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_headings_get_ids_and_make_the_table_of_contents():
    rendered = render_markdown("## What you will learn\n\ntext\n\n### Details\n\n## まとめ\n\n## Summary\n\n## Summary\n")
    assert '<h2 id="what-you-will-learn">What you will learn</h2>' in rendered.html
    assert '<h3 id="details">' in rendered.html
    assert '<h2 id="まとめ">' in rendered.html
    assert [(entry["level"], entry["id"], entry["text"]) for entry in rendered.toc] == [
        (2, "what-you-will-learn", "What you will learn"),
        (3, "details", "Details"),
        (2, "まとめ", "まとめ"),
        (2, "summary", "Summary"),
        (2, "summary-1", "Summary"),  # duplicate headings still get distinct anchors
    ]


def test_table_of_contents_keeps_inline_math_and_code_but_not_links():
    entry = render_markdown("## Why divide by $\\sqrt{d_k}$ in `attn` [see](https://arxiv.org)\n").toc[0]
    assert "<msqrt>" in entry["html"] and "<code>attn</code>" in entry["html"]
    assert "<a" not in entry["html"]


def test_code_blocks_are_highlighted_by_pygments():
    html = render_markdown("```python\ndef f(x):\n    return x + 1\n```\n").html
    assert '<pre class="highlight"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html and '<span class="nf">f</span>' in html
    assert html.count("<pre") == 1  # markdown-it's wrapper is not doubled


def test_code_in_an_unknown_language_is_escaped_not_highlighted():
    html = render_markdown("```nosuchlanguage\n<b>x</b>\n```\n").html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html


def test_tables_render_with_alignment_in_a_scrolling_wrapper():
    html = render_markdown("| token | p |\n|:--|--:|\n| ある | 0.82 |\n").html
    assert '<div class="table-wrap"><table>' in html
    assert '<th style="text-align:left">token</th>' in html
    assert '<td style="text-align:right">0.82</td>' in html


def test_strikethrough():
    assert "<s>old</s>" in render_markdown("~~old~~").html


def test_math_becomes_mathml_inline_and_display():
    html = render_markdown(
        "Softmax: $\\mathrm{softmax}(z)_i = \\frac{e^{z_i}}{\\sum_j e^{z_j}}$.\n\n"
        "$$\\mathrm{Attention}(Q,K,V)=\\mathrm{softmax}\\left(\\frac{QK^\\top}{\\sqrt{d_k}}\\right)V$$\n"
    ).html
    assert '<span class="math inline"><math display="inline">' in html
    assert '<div class="math block">\n<math display="block">' in html
    assert html.count("<mfrac>") == 2 and "<msqrt>" in html
    assert "$" not in html


def test_display_math_inside_a_paragraph_stays_inside_it():
    html = render_markdown("before $$x^2$$ after").html
    assert html.startswith("<p>before ") and '<span class="math display"><math display="block">' in html


def test_a_broken_formula_shows_its_source_instead_of_breaking_the_page():
    html = render_markdown("Broken: $\\frac{1}{$ end").html
    assert '<code class="math-error">\\frac{1}{</code>' in html


def test_lab_tags_become_placeholders_for_lab_js():
    html = render_markdown(
        'Intro\n{{ lab:tokenizer text="吾輩は <猫> & \'犬\'" }}\n\n'
        '{{ lab:next-token prompt="Once upon a time" }}\n\n'
        '{{ lab:attention text="The cat sat" }}\n\n'
        "{{ lab:my-run-loss }}\n"
    ).html
    assert '<div class="lab-embed" data-lab="tokenizer" data-text="吾輩は &lt;猫&gt; &amp; \'犬\'"></div>' in html
    assert '<div class="lab-embed" data-lab="next-token" data-prompt="Once upon a time"></div>' in html
    assert '<div class="lab-embed" data-lab="attention" data-text="The cat sat"></div>' in html
    assert '<div class="lab-embed" data-lab="my-run-loss"></div>' in html
    assert "<p>Intro</p>" in html


def test_the_loss_widget_can_be_asked_for_the_learning_rate_curve():
    # Lesson 8: {{ lab:my-run-loss show="lr" }} draws the run's learning rate under its loss (lab.js).
    html = render_markdown('{{ lab:my-run-loss show="lr" }}\n').html
    assert html.strip() == '<div class="lab-embed" data-lab="my-run-loss" data-show="lr"></div>'


def test_unknown_lab_widgets_and_tags_in_code_stay_text():
    html = render_markdown('{{ lab:rocket text="x" }}\n\n```text\n{{ lab:tokenizer text="x" }}\n```\n').html
    assert "lab-embed" not in html
    assert '{{ lab:rocket text="x" }}' in html.replace("&quot;", '"')


def test_lab_tags_only_pass_their_documented_attributes():
    html = render_markdown('{{ lab:tokenizer text="a" onclick="b" style="c" }}\n').html
    assert html.strip() == '<div class="lab-embed" data-lab="tokenizer" data-text="a"></div>'


def test_a_lone_static_image_becomes_a_figure_with_caption():
    html = render_markdown('![GPT block](/static/img/logo.svg "Figure 1: the block")\n').html
    assert html.strip() == (
        '<figure><img src="/static/img/logo.svg" alt="GPT block" title="Figure 1: the block">'
        "<figcaption>Figure 1: the block</figcaption></figure>"
    )


def test_images_from_other_sites_lose_their_source():
    html = render_markdown("![tracker](https://evil.example/pixel.png)").html
    assert "evil.example" not in html and 'alt="tracker"' in html


def test_links_keep_http_https_and_relative_targets():
    html = render_markdown("[run](/training/runs/new/?preset=quick) [paper](https://arxiv.org/abs/1706.03762)").html
    assert '<a href="/training/runs/new/?preset=quick" rel="noopener noreferrer">run</a>' in html
    assert '<a href="https://arxiv.org/abs/1706.03762" rel="noopener noreferrer">paper</a>' in html


def test_shipped_pygments_stylesheet_matches_the_renderer():
    shipped = (ROOT / "static" / "css" / "pygments.css").read_text()
    assert shipped == pygments_css(), "regenerate static/css/pygments.css from courses.markdown.pygments_css()"
    assert ".highlight .k " in shipped


@pytest.mark.django_db
def test_lessons_are_rendered_on_save(course):
    lesson = course.lessons.first()
    lesson.body_md = "## New heading\r\n\r\nWith $x^2$."
    lesson.save()
    lesson.refresh_from_db()
    assert lesson.body_md == "## New heading\n\nWith $x^2$."
    assert '<h2 id="new-heading">' in lesson.body_html and "<msup>" in lesson.body_html
    assert lesson.toc[0]["id"] == "new-heading" and lesson.rendered_version == RENDERER_VERSION


def test_the_chat_template_tag_passes_its_conversation():
    html = render_markdown('{{ lab:chat-template system="Be <brief>." user="What is a token?" '
                           'assistant="トークンは &quot;断片&quot;" onclick="x" }}\n').html
    assert html.strip() == ('<div class="lab-embed" data-lab="chat-template" data-system="Be &lt;brief&gt;." '
                            'data-user="What is a token?" data-assistant="トークンは &amp;quot;断片&amp;quot;"></div>')
    assert render_markdown("{{ lab:chat-template }}\n").html.strip() == \
        '<div class="lab-embed" data-lab="chat-template"></div>'
