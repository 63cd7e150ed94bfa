from django.urls import path

from courses import views

app_name = "courses"
urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("<slug:course_slug>/", views.course_detail, name="detail"),
    path("<slug:course_slug>/<slug:lesson_slug>/", views.lesson_detail, name="lesson"),
    path("<slug:course_slug>/<slug:lesson_slug>/complete/", views.lesson_complete, name="lesson_complete"),
]
