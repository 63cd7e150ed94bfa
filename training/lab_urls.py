from django.urls import path

from training import lab_views

app_name = "lab"
urlpatterns = [
    path("", lab_views.index, name="index"),
]
