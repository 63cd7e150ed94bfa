from django.contrib import admin
from django.urls import URLPattern, include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from llmschool import dashboard, views
from llmschool.accounts import views as account_views
from llmschool.accounts.views import superuser_required

admin.site.site_header = "llmschool"
admin.site.site_title = "llmschool admin"

# django-rq's views only ask for staff, and they can delete, requeue or stop any job: every one
# of them (its JSON stats included) is for superusers. Instructors see runs in the admin.
RQ_PATTERNS = [URLPattern(pattern.pattern, superuser_required(pattern.callback), pattern.default_args, pattern.name)
               for pattern in get_api_urlpatterns() + get_admin_urlpatterns()]

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
    path("admin/rq/", include((RQ_PATTERNS, "django_rq"), namespace="django_rq")),
    path("admin/", admin.site.urls),
]

# MEDIA_ROOT holds students' datasets and model archives: never serve it as static files
# (not even with DEBUG on, as `make run` has it); the owner-scoped views stream them.
