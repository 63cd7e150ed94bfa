from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def quiz_list(request):
    return render(request, "quizzes/list.html")
