"""The learning lab, a Django app of its own (label "lab"): the /lab/ page, the JSON APIs that
static/js/lab.js calls, and the {% lab_strings %} tag that gives lab.js its strings on any page
with lab widgets (lesson pages, the lesson preview).

It sits above the training app and uses only two parts of it: `training.selectors` to find the
runs a user may open (owner-scoped), and the engine's public API (`training.engine`) for every
tensor operation. tests/foundation/test_layers.py holds it to that.

- services.py: the explorers' answers (caps, character spans, the model's name) as dicts
- strings.py: URLs, caps and translated UI strings for lab.js
- views.py, urls.py: the page and the GET-only JSON APIs
"""
