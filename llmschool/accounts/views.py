from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from llmschool.accounts import services
from llmschool.accounts.forms import ProfileForm, SignupForm


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None, initial={"preferred_language": translation.get_language()})
    if request.method == "POST":
        address = services.client_address(request)
        if services.signup_throttled(address=address):
            # Refused before any checking or hashing; what was typed (not the passwords) stays.
            kept = {key: request.POST.get(key, "") for key in ("username", "email", "preferred_language")}
            return render(request, "registration/signup.html", {
                "form": SignupForm(initial=kept),
                "throttled": _("Too many accounts were created from your network recently. "
                               "Please try again later, or ask your instructor for help."),
            }, status=429)
        if form.is_valid():
            user = services.user_signup(form=form, address=address)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome to llmschool! Start with the first lesson."))
            if settings.REQUIRE_VERIFIED_EMAIL:
                _send_verification(request, user)
            return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        translation.activate(user.preferred_language)
        messages.success(request, _("Your profile was saved."))
        if form.email_changed:
            services.user_email_changed(user=user)
            if settings.REQUIRE_VERIFIED_EMAIL:
                _send_verification(request, user)
        return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form})


def _send_verification(request, user) -> None:
    token = services.email_verification_token(user=user)
    link = request.build_absolute_uri(reverse("email_verify_confirm", args=[token]))
    if services.email_verification_send(user=user, link=link):
        messages.info(request, _("We sent a link to %(email)s. Open it to confirm your address; then you can "
                                 "queue training runs.") % {"email": user.email})
    else:
        messages.warning(request, _("The confirmation e-mail could not be sent right now. "
                                    "Please ask for it again in a few minutes."))


@login_required
@require_http_methods(["GET", "POST"])
def email_verify(request):
    """Where a student sees whether their address is confirmed and asks for a new link."""
    user = request.user
    if request.method == "POST" and not user.email_verified:
        wait = services.email_verification_wait(user=user)
        if wait:
            messages.warning(request, _("A link was sent less than a minute ago. Please wait %(seconds)s seconds "
                                        "before asking again.") % {"seconds": wait})
        else:
            _send_verification(request, user)
        return redirect("email_verify")
    return render(request, "accounts/verify_email.html", {"required": settings.REQUIRE_VERIFIED_EMAIL})


def email_verify_confirm(request, token):
    user = services.email_verification_confirm(token=token)
    if user is None:
        return render(request, "accounts/verify_email.html", {
            "invalid": True, "required": settings.REQUIRE_VERIFIED_EMAIL}, status=400)
    messages.success(request, _("Thank you: your e-mail address is confirmed."))
    return redirect("dashboard" if request.user.is_authenticated else "login")


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
