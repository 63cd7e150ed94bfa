from django.urls import path

from training.lab import views

app_name = "lab"
urlpatterns = [
    path("", views.index, name="index"),
    path("api/models", views.api_models, name="api_models"),
    path("api/tokenize", views.api_tokenize, name="api_tokenize"),
    path("api/chat-template", views.api_chat_template, name="api_chat_template"),
    path("api/next-token", views.api_next_token, name="api_next_token"),
    path("api/attention", views.api_attention, name="api_attention"),
    path("api/my-run-loss", views.api_my_run_loss, name="api_my_run_loss"),
]
