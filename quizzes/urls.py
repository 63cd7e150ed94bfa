from django.urls import path

from quizzes import views

app_name = "quizzes"
urlpatterns = [
    path("", views.quiz_list, name="list"),
    path("<int:quiz_id>/", views.quiz_detail, name="detail"),
    path("<int:quiz_id>/start/", views.attempt_start, name="attempt_start"),
    path("attempts/<uuid:code>/", views.attempt_take, name="attempt_take"),
    path("attempts/<uuid:code>/submit/", views.attempt_submit, name="attempt_submit"),
    path("attempts/<uuid:code>/result/", views.attempt_result, name="attempt_result"),
]
