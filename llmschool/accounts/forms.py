from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from llmschool.accounts.models import User


def unique_email(value: str, *, user=None) -> str:
    """The address in lower case, refused when another account has it in any case (the database
    has the same rule as a constraint; this gives the message)."""
    email = value.strip().lower()
    others = User.objects.filter(email__iexact=email)
    if user is not None:
        others = others.exclude(pk=user.pk)
    if others.exists():
        raise forms.ValidationError(_("An account with this e-mail address already exists."))
    return email


class SignupForm(UserCreationForm):
    email = forms.EmailField(label=_("E-mail address"), required=True,
                             help_text=_("Used only to reset your password."))

    class Meta:
        model = User
        fields = ("username", "email", "preferred_language")

    def clean_email(self):
        return unique_email(self.cleaned_data["email"])


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "preferred_language")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.initial_email = self.instance.email

    def clean_email(self):
        return unique_email(self.cleaned_data["email"], user=self.instance)

    @property
    def email_changed(self) -> bool:
        return self.cleaned_data.get("email", "").lower() != (self.initial_email or "").lower()
