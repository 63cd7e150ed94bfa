from django import forms
from django.utils.translation import gettext_lazy as _

ERRORS = {
    "required": _("Please answer this question."),
    "invalid_choice": _("That answer is not one of this question's choices."),
    "invalid_list": _("That answer is not one of this question's choices."),
}


class AttemptForm(forms.Form):
    """One field per question, its choices in the attempt's order; labels are the choice texts only."""

    use_required_attribute = False  # the server names every unanswered question at once

    def __init__(self, *args, questions, **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = questions
        for number, question in enumerate(questions, 1):
            choices = [(str(choice.id), choice.text) for choice in question.ordered_choices]
            if question.is_multiple:
                field = forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple,
                                                  error_messages=ERRORS)
            else:
                field = forms.ChoiceField(choices=choices, widget=forms.RadioSelect, error_messages=ERRORS)
            field.question, field.number = question, number
            self.fields[self.field_name(question)] = field

    def clean(self):
        cleaned = super().clean()
        # A radio group sends one value; ChoiceField would silently keep the last of several.
        for question in self.questions:
            name = self.field_name(question)
            if not question.is_multiple and hasattr(self.data, "getlist") and len(self.data.getlist(name)) > 1:
                self.add_error(name, _("Choose only one answer for this question."))
        return cleaned

    @staticmethod
    def field_name(question) -> str:
        return f"q{question.id}"

    def selections(self) -> dict[int, list[int]]:
        """{question id: [choice ids]} from valid data."""
        result = {}
        for question in self.questions:
            value = self.cleaned_data[self.field_name(question)]
            result[question.id] = [int(v) for v in (value if isinstance(value, list) else [value])]
        return result

    def unanswered_numbers(self) -> list[int]:
        return [field.number for name, field in self.fields.items()
                if name in self.errors and not self.data.getlist(name)]
