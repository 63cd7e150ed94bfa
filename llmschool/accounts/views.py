from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from llmschool.accounts.forms import ProfileForm, SignupForm


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None, initial={"preferred_language": translation.get_language()})
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to llmschool! Start with the first lesson."))
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        translation.activate(user.preferred_language)
        messages.success(request, _("Your profile was saved."))
        return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form})


@require_POST
def set_language(request):
    """Django's set_language, plus saving the choice on the profile of a logged-in user."""
    response = django_set_language(request)
    language = request.POST.get("language")
    user = request.user
    if user.is_authenticated and language in dict(user._meta.get_field("preferred_language").choices):
        user.preferred_language = language
        user.save(update_fields=["preferred_language"])
    return response


def superuser_required(view):
    """Superusers only (django-rq's dashboard can delete, requeue or stop any job): staff who
    are not superusers get 403, anyone else the admin's login page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if user.is_active and user.is_superuser:
            return view(request, *args, **kwargs)
        if user.is_authenticated:
            raise PermissionDenied
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))

    return wrapped
