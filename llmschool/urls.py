from django.contrib import admin
from django.urls import include, path

from llmschool import dashboard, views
from llmschool.accounts import views as account_views

admin.site.site_header = "llmschool"
admin.site.site_title = "llmschool admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("i18n/setlang/", account_views.set_language, name="set_language"),
    path("accounts/", include("llmschool.accounts.urls")),
    path("courses/", include("courses.urls")),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("quizzes/", include("quizzes.urls")),
    path("training/", include("training.urls")),
    path("lab/", include("training.lab.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]

# MEDIA_ROOT holds students' datasets and model archives: never serve it as static files
# (not even with DEBUG on, as `make run` has it); the owner-scoped views stream them.
