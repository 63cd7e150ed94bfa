from django.contrib.auth import views as auth_views
from django.urls import include, path

from llmschool.accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("verify/", views.email_verify, name="email_verify"),
    path("verify/<str:token>/", views.email_verify_confirm, name="email_verify_confirm"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("", include("django.contrib.auth.urls")),
]
