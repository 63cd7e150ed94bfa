from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from llmschool.accounts.models import User


class SignupForm(UserCreationForm):
    email = forms.EmailField(label=_("E-mail address"), required=True,
                             help_text=_("Used only to reset your password."))

    class Meta:
        model = User
        fields = ("username", "email", "preferred_language")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail address already exists."))
        return email


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "preferred_language")
