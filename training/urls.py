from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("", views.run_list, name="runs"),
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/table/", views.dataset_table, name="dataset_table"),
    path("datasets/<uuid:code>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<uuid:code>/status/", views.dataset_status, name="dataset_status"),
    path("datasets/<uuid:code>/recheck/", views.dataset_recheck, name="dataset_recheck"),
    path("datasets/<uuid:code>/delete/", views.dataset_delete, name="dataset_delete"),
    path("datasets/<uuid:code>/notation/", views.dataset_notation, name="dataset_notation"),
    path("runs/new/", views.run_new, name="run_new"),
    path("runs/estimate/", views.run_estimate, name="run_estimate"),
    path("runs/<uuid:code>/", views.run_detail, name="run_detail"),
    path("runs/<uuid:code>/progress/", views.run_progress, name="run_progress"),
    path("runs/<uuid:code>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<uuid:code>/playground/", views.run_playground, name="run_playground"),
    path("runs/<uuid:code>/download/", views.run_download, name="run_download"),
    path("runs/<uuid:code>/delete/", views.run_delete, name="run_delete"),
    path("compare/", views.compare, name="compare"),
]
