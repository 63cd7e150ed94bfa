from django.urls import path

from training import lab_views

app_name = "lab"
urlpatterns = [
    path("", lab_views.index, name="index"),
    path("api/models", lab_views.api_models, name="api_models"),
    path("api/tokenize", lab_views.api_tokenize, name="api_tokenize"),
    path("api/next-token", lab_views.api_next_token, name="api_next_token"),
    path("api/attention", lab_views.api_attention, name="api_attention"),
    path("api/my-run-loss", lab_views.api_my_run_loss, name="api_my_run_loss"),
]
