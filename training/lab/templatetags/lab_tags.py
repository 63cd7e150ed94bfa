"""{% lab_strings %}: the json_script blob that static/js/lab.js reads (id "lab-strings").

Pages that show lab widgets load this tag instead of building the strings in their views, so
that the course pages need no import of the lab."""
from django import template

from training.lab.strings import lab_strings as strings_for_lab_js

register = template.Library()


@register.inclusion_tag("lab/strings.html")
def lab_strings():
    return {"lab_strings": strings_for_lab_js()}
